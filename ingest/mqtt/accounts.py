"""Broker accounts: one per station and per HJ 212 logger of the registry, plus the ingestor's.

No anonymous publisher (issue #18 item 10). `ensure_accounts` keeps the accounts in
`$ENVMON_HOME/mqtt/credentials.json` (mode 0600 in a 0700 folder; created on first use, a new
station of the registry gets a new random password, a removed one loses its account, the
others keep theirs). `write_broker_auth` writes what Mosquitto 2 reads from it:

- a password file with only PBKDF2-SHA512 hashes (`user:$7$101$salt$hash`, the format
  `mosquitto_passwd` writes), never a password in clear;
- an ACL file: the ingestor may read (subscribe to) the whole tree `envmon/v1/#`; a station may
  write only its own topic `envmon/v1/{kind}/{site_id}`, a logger only `envmon/v1/hj212/{mn}`.

Passwords are never logged or printed; the credentials file is what a station's provisioning
(or the simulators) read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.durable import write_durably
from core.errors import ConfigError
from core.registry.config import Registry
from ingest.mqtt.topics import ALL_TOPICS, hj212_topic, parse_topic, station_topic

INGESTOR_USER = "envmon-ingestor"
STATION_PREFIX = "station-"
LOGGER_PREFIX = "logger-"
CREDENTIALS_FILE = "credentials.json"
PASSWORD_FILE = "passwd"
ACL_FILE = "acl"
# Mosquitto 2's password hash: PBKDF2-HMAC-SHA512, 12-byte salt, 101 iterations (what
# mosquitto_passwd writes; the passwords themselves are 144-bit random, so the count is no defence
# that matters).
_PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12
_PASSWORD_BYTES = 18


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    write: tuple[str, ...] = ()  # topics (or filters) it may publish to
    read: tuple[str, ...] = ()  # filters it may subscribe to

    def __repr__(self) -> str:  # a password never reaches a log through a repr
        return f"Account({self.username!r}, write={self.write!r}, read={self.read!r})"


@dataclass(frozen=True)
class BrokerAuth:
    """The files a Mosquitto listener needs to demand accounts."""

    password_file: Path
    acl_file: Path


class MqttAccounts:
    """The broker's accounts by user name."""

    def __init__(self, accounts: Iterable[Account], path: Path | None = None):
        self.by_user = {a.username: a for a in accounts}
        self.path = path

    def __len__(self) -> int:
        return len(self.by_user)

    @property
    def ingestor(self) -> Account:
        return self.by_user[INGESTOR_USER]

    def station(self, site_id: str) -> Account:
        return self.by_user[STATION_PREFIX + site_id]

    def logger(self, mn: str) -> Account:
        return self.by_user[LOGGER_PREFIX + mn]

    def owner(self, topic: str) -> Account | None:
        """The account that may publish to `topic` (its station's or logger's), or None."""
        try:
            t = parse_topic(topic)
        except ValueError:
            return None
        prefix = LOGGER_PREFIX if t.kind == "hj212" else STATION_PREFIX
        account = self.by_user.get(prefix + t.key)
        return account if account is not None and topic in account.write else None

    def with_account(self, account: Account) -> MqttAccounts:
        """A copy with one more account (e.g. a test's sender); not saved."""
        return MqttAccounts([*self.by_user.values(), account], None)


def _new_password() -> str:
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def wanted_accounts(registry: Registry) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """User name -> (write topics, read filters) for the registry."""
    out: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {INGESTOR_USER: ((), (ALL_TOPICS,))}
    for site_id, st in sorted(registry.stations.items()):
        out[STATION_PREFIX + site_id] = ((station_topic(st.kind, site_id),), ())
    for mn in sorted(registry.outlet_by_mn):
        out[LOGGER_PREFIX + mn] = ((hj212_topic(mn),), ())
    return out


def credentials_path(home: str | os.PathLike[str]) -> Path:
    return Path(home) / "mqtt" / CREDENTIALS_FILE


def load_accounts(path: str | os.PathLike[str]) -> MqttAccounts:
    """The accounts saved at `path`; a ConfigError naming the file if it cannot be read."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        accounts = [
            Account(
                user,
                entry["password"],
                tuple(entry.get("write", ())),
                tuple(entry.get("read", ())),
            )
            for user, entry in data["accounts"].items()
        ]
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no MQTT credentials; create them with `envmon mqtt broker-config`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a valid MQTT credentials file ({type(exc).__name__}: {exc}); "
            "remove it and run `envmon mqtt broker-config` to create new accounts"
        ) from None
    return MqttAccounts(accounts, path)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    write_durably(path, tmp, lambda fh: fh.write(text.encode("utf-8")), mode=0o600)


def ensure_accounts(home: str | os.PathLike[str], registry: Registry) -> MqttAccounts:
    """The registry's accounts, creating the missing ones and saving them (0600) under `home`."""
    path = credentials_path(home)
    old = load_accounts(path).by_user if path.exists() else {}
    accounts = [
        Account(user, old[user].password if user in old else _new_password(), write, read)
        for user, (write, read) in wanted_accounts(registry).items()
    ]
    result = MqttAccounts(accounts, path)
    if set(old) != set(result.by_user) or any(
        (a.write, a.read) != (old[a.username].write, old[a.username].read) for a in accounts
    ):
        data = {
            "comment": "envmon MQTT accounts (envmon mqtt broker-config); secrets: keep 0600",
            "accounts": {
                a.username: {"password": a.password, "write": list(a.write), "read": list(a.read)}
                for a in accounts
            },
        }
        _write_private(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return result


def password_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto 2's `$7$` hash of `password` (PBKDF2-HMAC-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    return (
        f"$7${_PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}$"
        f"{base64.b64encode(digest).decode()}"
    )


def _check_name(user: str) -> None:
    if not user or any(c in user for c in ":\n\r ") or user.startswith("#"):
        raise ConfigError(
            f"MQTT user name {user!r} cannot go into a Mosquitto password file "
            "(no ':', space, line break, leading '#')"
        )


def acl_text(accounts: MqttAccounts) -> str:
    lines = [
        "# envmon: written by `envmon mqtt broker-config` from the registry; do not edit.",
        "# A station writes only its own topic, a logger only its hj212 topic; the ingestor reads.",
    ]
    for a in accounts.by_user.values():
        _check_name(a.username)
        lines.append("")
        lines.append(f"user {a.username}")
        lines += [f"topic write {t}" for t in a.write]
        lines += [f"topic read {t}" for t in a.read]
    return "\n".join(lines) + "\n"


def write_broker_auth(accounts: MqttAccounts, directory: str | os.PathLike[str]) -> BrokerAuth:
    """Mosquitto's password file (hashes only) and ACL file for `accounts`, in `directory`."""
    d = Path(directory)
    lines = []
    for a in accounts.by_user.values():
        _check_name(a.username)
        lines.append(f"{a.username}:{password_hash(a.password)}")
    auth = BrokerAuth(d / PASSWORD_FILE, d / ACL_FILE)
    _write_private(auth.password_file, "\n".join(lines) + "\n")
    _write_private(auth.acl_file, acl_text(accounts))
    return auth
