"""The HJ 212 server's connections and their logins.

- A connection is admitted unless its host is throttled or holds `peers.max_connections`
  connections already (auth.PeerGuard); then its bytes are cut into records at CRLF (a record
  longer than `max_packet_bytes` is handed over as it is, to be refused), each handed to the
  server; an idle connection is closed after `idle_timeout_s`, and what it left unfinished
  (a partial packet, split packets never completed) is dead-lettered.
- A login is a packet's MN and password checked against the registry's logger of an outlet, as
  a keyed hash (auth.Passwords); the same MN and password on a connection that already logged
  in are not checked again. Failed logins are limited per MN and per peer host across
  connections (auth.LoginLimiter; lockouts logged at WARNING and written to the event log); a
  host sending only refused records is throttled (auth.PeerGuard). The reasons of a refusal go
  to the dead letter, never into the answer.
- A logged-in connection is bound to its logger: its MN, password and system code (ST) are the
  key of the bulk lane, and commands to the logger go over it (`live(mn)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.installation_key import password_hmac
from core.registry.config import Registry
from ingest.hj212 import builders
from ingest.hj212.auth import LoginLimiter, Passwords, PeerGuard
from ingest.hj212.commands import CommandChannel, LoggerAddress
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import split_frames
from ingest.hj212.reassembly import Reassembler

if TYPE_CHECKING:
    from ingest.hj212.server import Hj212Server, ServerConfig

log = logging.getLogger("envmon.hj212")

WARN_EVERY_S = 10.0  # one line per host this often about its connections closed on accept


class Framer:
    """CRLF framing with a size limit; keeps the unfinished tail for the disconnect check."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.rest = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        records, self.rest = split_frames(self.rest + data)
        yield from (r for r in records if r)
        if len(self.rest) > self.max_bytes:  # no CRLF in sight: hand the junk over, start afresh
            junk, self.rest = self.rest, b""
            yield junk


class Connection:
    """One logger's TCP connection."""

    def __init__(self, config: ServerConfig, writer: asyncio.StreamWriter):
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.host = str(peer[0]) if isinstance(peer, tuple) else str(peer)  # limits are per host
        self.mn: str | None = None
        self.site_id: str | None = None
        self.pw = ""
        self.st = "32"
        self.closed = False
        self.auth_failures = 0
        self.refused = False  # too many refused packets: stop reading, close
        self.channel = CommandChannel(
            self.send,
            timeout_s=config.command_timeout_s,
            retries=config.command_retries,
            result_timeout_s=config.command_result_timeout_s,
        )
        self.command_lock = asyncio.Lock()  # one command at a time per logger
        self.reassembler = Reassembler(config.split_timeout_s)
        self.split_raw: dict[tuple[str | None, str | None], list[bytes]] = {}
        self.upload_key: tuple[bytes, bytes, bytes] | None = None  # (MN, PW, ST) once bound

    @property
    def address(self) -> LoggerAddress:
        return LoggerAddress(self.mn or "", self.pw, self.st)

    def origin(self, mn: str | None = None) -> str:
        mn = mn or self.mn
        return f"tcp://{self.peer}/{mn}" if mn else f"tcp://{self.peer}"

    def send(self, data: bytes) -> bool:
        if self.closed or self.writer.is_closing():
            return False
        try:
            self.writer.write(data)
        except (ConnectionError, OSError, RuntimeError):
            return False
        return True


class Connections:
    """The server's live connections, the registry's loggers, and who may log in."""

    def __init__(self, server: Hj212Server, key: bytes):
        self.server = server
        self.config = server.config
        self.stats = server.stats
        self._key = key  # logger passwords are held as keyed hashes
        self.logins = LoginLimiter(server.config.login)
        self.peers = PeerGuard(server.config.peers)
        self.live_conns: set[Connection] = set()
        self.by_mn: dict[str, Connection] = {}  # the last connection a logger logged in on
        self.handlers: set[asyncio.Task] = set()
        self._warned: dict[str, float] = {}  # host -> when its refused connections were last logged
        self.sites: dict[str, str] = {}
        self.passwords = Passwords(key, {})

    def set_registry(self, registry: Registry) -> None:
        """(Re)load the loggers: MN -> outlet site_id; their passwords as keyed hashes."""
        self.sites = {o.logger.mn: site_id for site_id, (_, o) in registry.outlets.items()}
        self.passwords = Passwords(
            self._key, {o.logger.mn: o.logger.password for _, o in registry.outlets.values()}
        )
        for conn in self.live_conns:
            conn.upload_key = None  # a password may have changed: the next packet logs in again

    def site_of(self, mn: str | None) -> str | None:
        """The outlet whose logger is `mn`, or None."""
        return self.sites.get(mn or "")

    def live(self, mn: str) -> Connection:
        """The connection a command to logger `mn` goes over; LookupError when there is none."""
        conn = self.by_mn.get(mn)
        if conn is None or conn.closed:
            raise LookupError(f"logger MN {mn!r} is not connected")
        return conn

    # -- accepting and reading ------------------------------------------------------------
    def admit(self, host: str) -> str | None:
        """None when a new connection from `host` may proceed, else why it is closed at once."""
        if self.server.closing:
            return "server shutting down"
        # a host locked after failed logins is NOT refused here: only its logins that need a
        # check are (auth.LoginLimiter.refusal); its other loggers keep connecting (review I4)
        why = self.peers.admit(host)
        if why is None:
            return None
        self.stats.connections_refused += 1
        now = time.monotonic()
        if now - self._warned.get(host, -1e9) >= WARN_EVERY_S:
            self._warned[host] = now
            if len(self._warned) > 10_000:
                self._warned.clear()
            log.warning("tcp://%s: connection closed on accept: %s", host, why)
        return why

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, from accept to close."""
        server = self.server
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        conn = Connection(self.config, writer)
        refusal = self.admit(conn.host)
        if refusal is not None:  # nothing was received on it: nothing to dead-letter
            if task is not None:
                self.handlers.discard(task)
            await self.close(conn)
            return
        self.live_conns.add(conn)
        self.stats.connections += 1
        framer = Framer(self.config.max_packet_bytes)
        why = "connection closed by the logger"
        peer_gone = False
        try:
            while not conn.refused:
                await server.writer.wait_for_room()  # backpressure: the landing writer is behind
                try:
                    data = await asyncio.wait_for(reader.read(65536), self.config.idle_timeout_s)
                except TimeoutError:
                    why = f"idle timeout ({self.config.idle_timeout_s:g} s)"
                    log.info("%s: %s, closing", conn.origin(), why)
                    break
                except (ConnectionError, OSError) as exc:
                    why, peer_gone = f"connection error: {exc}", True
                    break
                if not data:
                    peer_gone = True
                    break
                received_at = datetime.now(UTC)
                for record in framer.feed(data):
                    server.on_record(conn, record, received_at)
        except asyncio.CancelledError:
            why = "server shut down"
        finally:
            now = datetime.now(UTC)
            if framer.rest:
                server.writer.begin_record()
                server.per_packet.dead(
                    conn,
                    framer.rest,
                    f"partial packet: {why} after {len(framer.rest)} bytes without CRLF",
                    "partial",
                    now,
                )
            for evicted in conn.reassembler.drain():
                server.per_packet.evicted(conn, evicted, now)
            server.writer.check_full()
            self.live_conns.discard(conn)
            self.peers.closed(conn.host)
            if conn.mn and self.by_mn.get(conn.mn) is conn:
                del self.by_mn[conn.mn]
            conn.channel.close("disconnected")
            if task is not None:
                self.handlers.discard(task)
            if not server.closing:
                if not peer_gone:
                    with contextlib.suppress(Exception):
                        # the answers owed go out before we hang up; a refused connection waits
                        # for its batch's usual time (forcing a durable write per refused
                        # connection let one client make ~1,000 files in 6 s: issue 18 item 4)
                        await server.writer.durable(force=not conn.refused)
                await self.close(conn)

    async def close(self, conn: Connection) -> None:
        conn.closed = True
        with contextlib.suppress(Exception):
            conn.writer.close()
            await asyncio.wait_for(conn.writer.wait_closed(), 5)

    async def stop(self) -> None:
        """Every open command ends and every connection handler is cancelled (their
        unfinished records dead-lettered); the connections are closed by `close_all`."""
        for conn in list(self.live_conns):
            conn.channel.close("server shutting down")
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    async def close_all(self) -> None:
        for conn in list(self.live_conns):
            await self.close(conn)

    def refused_record(self, conn: Connection) -> None:
        """A record of `conn` was dead-lettered: a host that sends only refused records without
        a login is throttled, and its connections that never logged in are closed."""
        if conn.mn is not None or not self.peers.refused(conn.host):
            return
        self.stats.peers_throttled += 1
        peers = self.config.peers
        log.warning(
            "tcp://%s: %d refused records within %g s without a login: host throttled for %g s",
            conn.host,
            peers.max_refused,
            peers.window_s,
            peers.throttle_s,
        )
        for other in self.live_conns:
            if other.host == conn.host and other.mn is None:
                other.refused = True

    # -- logins ---------------------------------------------------------------------------
    def authenticate(self, conn: Connection, packet: Packet) -> tuple[str, str] | None:
        """None when the packet's MN and password are a registered logger's; else (kind, reason).

        Failed logins are limited per MN and per peer host across connections (auth.py): while
        locked, a login is refused without checking the password. The reasons (in the dead
        letter, never in the answer) tell the cases apart; the answer does not."""
        mn = packet.mn or ""
        if conn.mn == mn and mn and conn.upload_key is not None and packet.pw == conn.pw:
            return None  # this connection's logger, same password: checked when it logged in
        locked = self.logins.refusal(mn, conn.host)
        if locked is not None:
            self._login_failed(conn, packet, checked=False)
            return "locked", f"login refused unchecked: {locked}"
        self.stats.auth_checked += 1
        ok = self.passwords.check(mn, packet.pw or "")  # the same hash work for an unknown MN
        if ok:
            self.logins.succeeded(mn, conn.host)
            return None
        self._login_failed(conn, packet, checked=True)
        if not mn:
            return "unknown_mn", "no MN in the packet: cannot tell which logger sent it"
        site_id = self.sites.get(mn)
        if site_id is None:
            reason = f"unknown MN {mn!r}: no outlet in the registry has this logger"
            if packet.pw:  # its keyed hash, never the password: a retry after enrolment checks it
                reason += f" [pw {password_hmac(self._key, mn, packet.pw)}]"
            return "unknown_mn", reason
        return "bad_password", f"wrong password for MN {mn!r} (logger of outlet {site_id})"

    def _login_failed(self, conn: Connection, packet: Packet, checked: bool) -> None:
        for lockout in self.logins.failed(packet.mn or "", conn.host, checked=checked):
            self.stats.lockouts += 1
            text = lockout.describe()
            log.warning("%s: %s", conn.origin(packet.mn), text)  # never the password
            self.server.writer.current.events.append({
                "received_at": datetime.now(UTC).isoformat(), "peer": conn.peer, "mn": packet.mn,
                "site_id": self.site_of(packet.mn), "event": "login_lockout",
                "lockout": lockout.kind, "locked": lockout.key, "failures": lockout.failures,
                "until": lockout.until.isoformat(), "note": text,
            })  # fmt: skip
            if lockout.kind == "peer":  # the host's connections that never logged in go
                for other in self.live_conns:
                    if other.host == lockout.key and other.upload_key is None:
                        other.refused = True
        if not checked and conn.upload_key is None:
            conn.refused = True  # a locked login: no point in reading more from this connection

    def bind(self, conn: Connection, packet: Packet) -> bool:
        """The connection is now logger `packet.mn`'s; True when it is its first login."""
        mn = packet.mn or ""
        first = conn.mn is None
        if conn.mn != mn:
            conn.mn, conn.site_id = mn, self.sites[mn]
        conn.pw = packet.pw or ""
        if packet.st and packet.st != builders.ST_SYSTEM:
            conn.st = packet.st
        conn.upload_key = (mn.encode(), conn.pw.encode(), conn.st.encode())
        if self.by_mn.get(mn) is not conn:
            self.by_mn[mn] = conn
        return first
