"""The console's accounts: one per person of the registry, with a role and an argon2id password
hash (the clear password is never stored nor logged). `envmon users …` (envmon.cli.users) and the
login page call these functions.

Roles (what the console lets an account see; what a person may do to a case is still decided by
alerts.cases from the registry):
  administrator  every grid's cases (notes only, like the CLI); the registry's administrators
  station_staff  the data review pages (not cases); the registry's station staff and reviewers
  officer        the cases of their grid and the grids below it; the registry's responsible
                 officers and inspectors
  leader         as an officer, and closes (销号) cases; the registry's leaders
  viewer         every grid's cases, read only; anyone
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.errors import EnvmonError
from core.identity import Person

ROLES = ("administrator", "station_staff", "officer", "leader", "viewer")
ROLE_LABELS = {
    "administrator": "系统管理员 administrator",
    "station_staff": "站点运维 station staff",
    "officer": "网格员 grid officer",
    "leader": "网格长 grid leader",
    "viewer": "只读 viewer",
}
# The registry's role -> the account's role by default.
DEFAULT_ROLE = {
    "leader": "leader",
    "responsible": "officer",
    "inspector": "officer",
    "station_staff": "station_staff",
    "data_reviewer": "station_staff",
    "administrator": "administrator",
}
MIN_PASSWORD = 10
MAX_PASSWORD = 256
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (argon2-cffi's default)
# Verified when the username is unknown, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("envmon: no such account, the time of a verification")


class AccountError(EnvmonError):
    """An account that cannot be made or changed as asked (the message says why and what to do)."""


class LoginRefused(EnvmonError):
    """A login refused. `reason` is for the record; people see one message for every reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Account:
    username: str
    person: Person
    role: str
    disabled: bool = False

    @property
    def sees_all_grids(self) -> bool:
        return self.role in ("administrator", "viewer")

    @property
    def works_cases(self) -> bool:
        """Whether the account may open the cases pages."""
        return self.role != "station_staff"

    @property
    def may_act_on_cases(self) -> bool:
        """Whether the case page offers actions (a viewer reads only)."""
        return self.role in ("administrator", "officer", "leader")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters (密码至少 {MIN_PASSWORD} 位)")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password has at most {MAX_PASSWORD} characters")
    if password != password.strip():
        raise AccountError("a password does not start or end with a space")
    return password


def normal_username(text: str) -> str:
    name = text.strip().lower()
    if not _USERNAME.match(name):
        raise AccountError(
            f"username {text!r}: 2 to 32 characters, lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. hujun or hu.jun)"
        )
    return name


def allowed_roles(person: Person) -> tuple[str, ...]:
    """The account roles that fit the person's place in the registry."""
    if person.is_officer:
        return ("leader", "officer", "viewer") if person.role == "leader" else ("officer", "viewer")
    if person.role == "administrator":
        return ("administrator", "station_staff", "viewer")
    return ("station_staff", "viewer")


def role_for(person: Person, role: str | None) -> str:
    if role is None:
        return DEFAULT_ROLE.get(person.role, "viewer")
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    fits = allowed_roles(person)
    if role not in fits:
        raise AccountError(
            f"{person} is {person.role} in the registry: an account of role {role} does not fit; "
            f"roles for this person: {', '.join(fits)}"
        )
    return role


def person_in_warehouse(con: duckdb.DuckDBPyConnection, person_id: str) -> Person | None:
    row = con.execute(
        "SELECT person_id, name_zh, name_en, role, grid_id, phone, email FROM v_people WHERE person_id = ?",
        [person_id],
    ).fetchall()
    return Person(*row[0]) if row else None


def _exists(con: duckdb.DuckDBPyConnection, username: str) -> bool:
    return bool(con.execute("SELECT 1 FROM web_users WHERE username = ?", [username]).fetchall())


def _require(con: duckdb.DuckDBPyConnection, username: str) -> str:
    name = username.strip().lower()
    if not _exists(con, name):
        known = [u for (u,) in con.execute("SELECT username FROM web_users ORDER BY username").fetchall()]
        raise AccountError(
            f"no account {username!r}; accounts: {', '.join(known) if known else 'none yet (envmon users add)'}"
        )
    return name


def add_user(
    con: duckdb.DuckDBPyConnection,
    username: str,
    person: Person,
    password: str,
    *,
    role: str | None,
    by: str,
    at: datetime,
) -> Account:
    """A new account for a person of the registry (one account per person)."""
    name = normal_username(username)
    role = role_for(person, role)
    check_new_password(password)
    if person_in_warehouse(con, person.person_id) is None:
        raise AccountError(
            f"{person} is in the registry files but not in the warehouse: run `envmon registry load` first"
        )
    if _exists(con, name):
        raise AccountError(f"account {name!r} exists; `envmon users list` shows the accounts")
    taken = con.execute("SELECT username FROM web_users WHERE person_id = ?", [person.person_id]).fetchall()
    if taken:
        raise AccountError(f"{person} already has the account {taken[0][0]!r} (one account per person)")
    con.execute(
        "INSERT INTO web_users (username, person_id, role, password_hash, disabled, created_at, created_by, "
        "password_changed_at) VALUES (?, ?, ?, ?, false, ?, ?, ?)",
        [name, person.person_id, role, hash_password(password), at, by, at],
    )
    return Account(name, person, role)


def disable_user(con: duckdb.DuckDBPyConnection, username: str, *, by: str, at: datetime) -> str:
    """Disable an account and end its sessions."""
    name = _require(con, username)
    con.execute(
        "UPDATE web_users SET disabled = true, disabled_at = ?, disabled_by = ? WHERE username = ?", [at, by, name]
    )
    con.execute("DELETE FROM web_sessions WHERE username = ?", [name])
    return name


def enable_user(con: duckdb.DuckDBPyConnection, username: str) -> str:
    name = _require(con, username)
    con.execute("UPDATE web_users SET disabled = false, disabled_at = NULL, disabled_by = NULL WHERE username = ?", [name])
    return name


def reset_password(con: duckdb.DuckDBPyConnection, username: str, password: str, *, at: datetime) -> str:
    """A new password; the account's sessions end (every device logs in again)."""
    name = _require(con, username)
    check_new_password(password)
    con.execute(
        "UPDATE web_users SET password_hash = ?, password_changed_at = ? WHERE username = ?",
        [hash_password(password), at, name],
    )
    con.execute("DELETE FROM web_sessions WHERE username = ?", [name])
    return name


def list_users(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT u.username, u.person_id, p.name_zh, p.name_en, p.grid_id, u.role, u.disabled, u.created_at, "
        "u.created_by, u.password_changed_at, u.disabled_at FROM web_users u "
        "LEFT JOIN v_people p ON p.person_id = u.person_id ORDER BY u.username"
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def authenticate(con: duckdb.DuckDBPyConnection, username: str, password: str) -> Account:
    """The account of a username and password; LoginRefused otherwise (unknown name, wrong
    password, disabled, person no longer in the registry)."""
    name = username.strip().lower()
    if len(password) > MAX_PASSWORD or len(name) > 64:  # no argon2 work on a megabyte "password"
        raise LoginRefused(f"over-long username or password for {name[:64]!r}")
    row = con.execute(
        "SELECT password_hash, person_id, role, disabled FROM web_users WHERE username = ?", [name]
    ).fetchall()
    if not row:
        _verify(_DUMMY_HASH, password)
        raise LoginRefused(f"unknown username {name!r}")
    stored, person_id, role, disabled = row[0]
    if not _verify(stored, password):
        raise LoginRefused(f"wrong password for {name!r}")
    if disabled:
        raise LoginRefused(f"account {name!r} is disabled")
    person = person_in_warehouse(con, person_id)
    if person is None:
        raise LoginRefused(f"account {name!r}: person {person_id!r} is no longer in the registry")
    return Account(name, person, role)


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
