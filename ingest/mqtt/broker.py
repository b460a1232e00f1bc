"""Start and stop a private Mosquitto broker (tests, benchmark, demo).

The broker gets its own config file and persistence folder under `workdir`, listens on one
loopback port (optionally with TLS), and keeps that port across `restart()` so clients
reconnect on their own. It takes no anonymous client: give it the registry's accounts
(`accounts`, ingest/mqtt/accounts.py: a password file of hashes and an ACL that lets a station
publish only to its own topic) or plain `users`; only `anonymous=True` (the throughput
benchmark) opens it to anyone on loopback. `max_packet_bytes` makes Mosquitto refuse (and
disconnect) a client that sends a larger packet.
`stop()` ends it with SIGTERM, which makes Mosquitto save its persistence file: sessions and
queued QoS 1 messages survive a restart.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from core.errors import EnvmonError
from core.registry.config import Registry
from ingest.mqtt.accounts import (
    Account,
    BrokerAuth,
    MqttAccounts,
    ensure_accounts,
    write_broker_auth,
)

FALLBACK_BINARY = "/usr/sbin/mosquitto"


class BrokerError(EnvmonError):
    """The broker binary is missing or the broker did not come up."""


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or a BrokerError saying how to install it."""
    found = shutil.which("mosquitto")
    if found:
        return found
    if os.access(FALLBACK_BINARY, os.X_OK):
        return FALLBACK_BINARY
    raise BrokerError(
        "mosquitto is not installed (looked on PATH and at /usr/sbin/mosquitto); "
        "run `bash run.sh test`, which installs it"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """The broker's TLS listener: CA bundle, server certificate and key (PEM files)."""

    cafile: str
    certfile: str
    keyfile: str


def _config_text(
    host: str,
    port: int,
    persistence_dir: Path,
    log_file: Path,
    auth: BrokerAuth | None,
    tls: TlsFiles | None = None,
    max_packet_bytes: int | None = None,
) -> str:
    lines = [
        f"listener {port} {host}",
        # Run as the caller: started as root, Mosquitto would switch to user `mosquitto`, which
        # cannot write our persistence folder or log, and would silently lose sessions.
        f"user {getpass.getuser()}",
        "persistence true",
        f"persistence_location {persistence_dir}/",
        "persistence_file mosquitto.db",
        "autosave_interval 60",
        # An offline persistent session must keep everything queued for it: the defaults
        # (1000 messages) would silently drop readings while an ingestor is down.
        "max_queued_messages 0",
        "max_queued_bytes 0",
        # v5 clients announce their own Receive Maximum; this caps v3 clients only.
        "max_inflight_messages 0",
        "set_tcp_nodelay true",
        f"log_dest file {log_file}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages false",
    ]
    if tls is not None:
        lines += [f"cafile {tls.cafile}", f"certfile {tls.certfile}", f"keyfile {tls.keyfile}"]
    if max_packet_bytes:
        lines.append(f"max_packet_size {max_packet_bytes}")
    if auth is None:
        lines.append("allow_anonymous true")
    else:
        lines += [
            "allow_anonymous false",
            f"password_file {auth.password_file}",
            f"acl_file {auth.acl_file}",
        ]
    return "\n".join(lines) + "\n"


def broker_config_text(
    host: str,
    port: int,
    persistence_dir: Path,
    log_file: Path,
    auth: BrokerAuth,
    tls: TlsFiles | None = None,
    max_packet_bytes: int | None = None,
) -> str:
    """A Mosquitto configuration demanding accounts (what `envmon mqtt broker-config` writes)."""
    return _config_text(host, port, persistence_dir, log_file, auth, tls, max_packet_bytes)


class Broker:
    """One Mosquitto process with persistence on; usable as a context manager."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        users: dict[str, str] | None = None,
        accounts: MqttAccounts | None = None,
        tls: TlsFiles | None = None,
        anonymous: bool = False,
        max_packet_bytes: int | None = None,
    ):
        self.binary = find_mosquitto()
        self.workdir = Path(workdir)
        self.host = host
        self.port = port or free_port(host)
        if users:  # plain user names: may publish and read anything
            accounts = MqttAccounts(
                [Account(u, p, ("envmon/#",), ("envmon/#",)) for u, p in users.items()]
            )
        if accounts is None and not anonymous:
            raise BrokerError(
                "a broker without accounts would take anonymous publishers: give it the "
                "registry's accounts (Broker.for_registry) or users, or anonymous=True "
                "(benchmarks on loopback only)"
            )
        self.accounts = accounts
        self.tls = tls
        self.max_packet_bytes = max_packet_bytes
        self.persistence_dir = self.workdir / "persistence"
        self.config_file = self.workdir / "mosquitto.conf"
        self.log_file = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_registry(
        cls,
        workdir: str | os.PathLike[str],
        home: str | os.PathLike[str],
        registry: Registry,
        **kwargs: Any,
    ) -> Broker:
        """A broker with an account per station and logger of `registry` (kept under `home`),
        refusing packets over 4 x the settings' mqtt_max_payload_bytes (as broker-config does)."""
        if "max_packet_bytes" not in kwargs:
            from core.settings import get_settings

            kwargs["max_packet_bytes"] = 4 * get_settings().mqtt_max_payload_bytes
        return cls(workdir, accounts=ensure_accounts(home, registry), **kwargs)

    def _write_config(self) -> None:
        self.persistence_dir.mkdir(parents=True, exist_ok=True)
        auth = write_broker_auth(self.accounts, self.workdir) if self.accounts else None
        self.config_file.write_text(
            _config_text(
                self.host,
                self.port,
                self.persistence_dir,
                self.log_file,
                auth,
                self.tls,
                self.max_packet_bytes,
            )
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout_s: float = 15.0) -> Broker:
        if self.running:
            return self
        self._write_config()
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in the terminal is for the caller, not the broker
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise BrokerError(
                    f"mosquitto exited with code {self.proc.returncode}: {err.strip()} "
                    f"(config {self.config_file}, log {self.log_file})"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerError(
            f"mosquitto did not accept connections on {self.host}:{self.port} "
            f"within {timeout_s:.0f} s (log {self.log_file})"
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM: Mosquitto saves sessions and queued messages to its persistence file."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def restart(self) -> None:
        """Stop (saving persistence) and start again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
