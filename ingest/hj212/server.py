"""The HJ 212 TCP server: data loggers connect, their packets become landing-zone batches.

- Many loggers at once (asyncio). A TCP read may hold part of a packet or several; records
  are cut at CRLF, and a record longer than `max_packet_bytes` is refused.
- Every record ends in exactly one place (`ServerStats` counts them so they add up):
  * readings in the landing zone (packets with values of known codes);
  * the event log `<ENVMON_HOME>/hj212/events/<UTC date>.jsonl` (well-formed packets of a
    registered logger that carry no readings: heartbeats, run status, alarms, answers to our
    commands, notices), one JSON object per packet with the raw text;
  * dead letters (source hj212) with the raw bytes (every PW/NewPW value masked `******`, the
    reason saying so), the peer (origin `tcp://host:port[/MN]`) and the reason: bad frame, CRC,
    length, malformed field, unknown MN, wrong password, locked login, packet too long, partial
    packet at disconnect or idle timeout, split packet never completed, and the reading
    contract's refusals (core/contract.py: DataTime before `reading_earliest` or later than
    now + `reading_max_future_s`, non-finite values, unknown flags). A packet whose codes are
    partly unknown or whose readings are partly refused lands the rest and is dead-lettered
    too, once, with all its reasons.
- Records of all connections are batched (by count and by age) and written as one landing
  batch (fsynced, atomic); the events and dead letters of the batch are made durable with it.
- Two lanes: a plain data upload on a connection whose logger already logged in (same MN,
  password and ST, not split, no command of ours pending: checked on the raw header) is only
  queued on arrival; when its batch is written, all such records are parsed together with
  `bulk.parse_batch` in a worker thread (CRC, grammar, readings, unit conversion). Whatever
  that does not land whole (rejections aside, which keep the per-packet parser's reasons) and
  every other record (first packet, logins, answers, notices, split packets) take the
  per-packet path, so both lanes file a record the same way.
  Only then are the answers sent: 9014 for uploads whose Flag has A=1, 9013 for notices, 9011
  QnRtn=3 for a refused login (unknown MN, wrong password and locked alike), 9011 QnRtn=2 for a
  packet the reading contract refuses whole — when the packet asked for an answer. A crash
  before that leaves the logger without its answer, and it sends again; the copy collapses in
  the warehouse loader.
- The password is checked against the logger (MN) of an outlet in the registry, as a keyed
  hash (auth.py); after `max_auth_failures` refused packets in a row the connection is closed.
  Failed logins are limited per MN and per peer host across connections (lockouts logged at
  WARNING, written to the event log, counted); a host may hold `peers.max_connections`
  connections and is throttled when it sends only refused records (auth.py). A connection the
  server hangs up on waits for its batch's usual time: refusals never force a write.
- It listens on 127.0.0.1 unless configured (settings `hj212_host`/`hj212_port`).
- Gaps are filled by asking the logger for its history (see backfill.py); commands to a
  connected logger (clock, history) are `Hj212Server.set_clock/read_clock/request_history`.
- Nothing in a packet can crash the server: any unexpected error becomes a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from core.contract import ReadingContract
from core.installation_key import installation_key, password_hmac
from core.landing import LandingZone, readings_table
from core.registry.config import Registry
from core.settings import Settings
from ingest.hj212 import builders
from ingest.hj212.auth import (
    MASK_NOTE,
    LoginLimiter,
    LoginPolicy,
    Passwords,
    PeerGuard,
    PeerPolicy,
    mask_passwords,
)
from ingest.hj212.backfill import BACKFILL_INTERVAL_S, Gap, Journal, OpenRequest, ReceivedState
from ingest.hj212.bulk import Rejected, parse_batch
from ingest.hj212.commands import CommandChannel, CommandResult, LoggerAddress
from ingest.hj212.commands import read_clock as _read_clock
from ingest.hj212.commands import request_history as _request_history
from ingest.hj212.commands import set_clock as _set_clock
from ingest.hj212.events import (
    EVENT_CNS,
    EventError,
    append_event_log,
    events_table,
    packet_to_events,
)
from ingest.hj212.packet import FLAG_SPLIT, Packet
from ingest.hj212.protocol import DEFAULT_TZ, split_frames, try_parse
from ingest.hj212.readings import (
    CONVERTED_COLUMNS,
    INTERVAL_BY_CN,
    convert_value,
    labelled_start,
    packet_to_readings,
    site_unit_conversion,
    to_site_units,
)
from ingest.hj212.reassembly import Evicted, Reassembler

log = logging.getLogger("envmon.hj212")

SOURCE_KIND = "hj212"
DEFAULT_PORT = 9212
_ANSWER_CNS = frozenset({"9011", "9012", "9013", "9014"})  # answers are never answered
# The header of a plain data upload, read from the raw bytes to pick the bulk lane (the CRC and
# everything else are still checked there, by the bulk parser).
_UPLOAD_HEADER = re.compile(
    rb"##\d{4}QN=\d*;ST=([^;]*);CN=(\d{4});PW=([^;]*);MN=([^;]*);Flag=(\d{1,3});CP=&&"
)
_DATA_CNS = frozenset(cn.encode() for cn in INTERVAL_BY_CN)


def extra_code(row: dict) -> str:
    """The pollutant code a reading was sent under (kept in its `extra`)."""
    try:
        return str(json.loads(row.get("extra") or "{}").get("code", "?"))
    except ValueError:
        return "?"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"  # loopback unless configured (settings hj212_host)
    port: int = DEFAULT_PORT
    max_packet_bytes: int = 16384  # a record (frame without CRLF) longer than this is refused
    idle_timeout_s: float = 600.0  # close a connection silent this long
    batch_readings: int = 20000  # write a landing batch when it holds this many readings...
    batch_records: int = 5000  # ...or this many records...
    batch_wait_s: float = 0.5  # ...or when its first record is this old
    max_auth_failures: int = 3  # refused packets in a row before the connection is closed
    # failed-login limits across connections, and what one peer host may cost (auth.py)
    login: LoginPolicy = field(default_factory=LoginPolicy)
    peers: PeerPolicy = field(default_factory=PeerPolicy)
    contract: ReadingContract | None = None  # None: ReadingContract.from_settings()
    split_timeout_s: float = 300.0  # split packet (PNUM/PNO) parts wait this long for the rest
    backfill: bool = True  # ask loggers for missing history
    backfill_max_span_s: float = 7 * 86400.0
    command_timeout_s: float = 10.0  # HJ 212-2017 Table 1: 10 s, 3 retries
    command_retries: int = 3
    command_result_timeout_s: float = 120.0
    sync_clocks: bool = False  # read each logger's clock on connect; set it when it drifts
    max_clock_drift_s: float = 60.0
    write_retry_max_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> ServerConfig:
        """The server of the settings: bind address, login limits, per-peer limits, contract."""
        values: dict = {
            "host": settings.hj212_host,
            "port": settings.hj212_port,
            "login": LoginPolicy(
                mn_failures=settings.hj212_login_failures_mn,
                peer_failures=settings.hj212_login_failures_peer,
                window_s=settings.hj212_login_window_s,
                lockout_s=settings.hj212_login_lockout_s,
            ),
            "peers": PeerPolicy(max_connections=settings.hj212_max_connections_per_peer),
            "contract": ReadingContract.from_settings(settings),
        }
        values.update(overrides)
        return cls(**values)


@dataclass
class ServerStats:
    connections: int = 0
    records: int = 0  # records received (each CRLF-terminated frame, or a partial one at close)
    packets_landed: int = 0  # records whose readings are in the landing zone
    packets_events: int = 0  # records kept in the event log
    packets_dead: int = 0  # records dead-lettered whole
    readings: int = 0
    dead_letters: int = 0  # dead-letter rows (also one per partly-unknown packet that landed)
    batches: int = 0
    replies: int = 0  # answers written to a live connection
    replies_lost: int = 0  # answers owed to a connection that had closed
    auth_failures: int = 0  # refused logins (checked or not)
    auth_checked: int = 0  # of which the password was actually checked (the rest: locked)
    lockouts: int = 0  # login lockouts started (MN or peer host), each logged at WARNING + event
    connections_refused: int = 0  # closed on accept: host throttled or at its maximum
    peers_throttled: int = 0  # hosts throttled for sending too many refused records
    contract_refused: int = 0  # records refused by the reading contract (time window, non-finite)
    write_errors: int = 0
    packets_bulk: int = 0  # of packets_landed: parsed in bulk (the rest one by one)
    dead_reasons: Counter = field(default_factory=Counter)  # by kind (crc, length, auth ...)

    @property
    def accounted(self) -> int:
        return self.packets_landed + self.packets_events + self.packets_dead


class _Batch:
    """Everything one landing write covers, and what is owed once it is durable."""

    __slots__ = (
        "bulk_landed",
        "dead",
        "dead_kinds",
        "events",
        "fast",
        "first_at",
        "landed",
        "logger_events",
        "n_dead",
        "n_events",
        "observed",
        "records",
        "replies",
        "rows",
        "seq",
        "tables",
    )

    def __init__(self, seq: int):
        self.seq = seq
        self.rows: list[dict] = []
        self.dead: list[dict] = []
        self.dead_kinds: Counter = Counter()
        self.events: list[dict] = []
        self.logger_events: list[dict] = []  # CN 2021 running status, CN 2072 alarms
        self.replies: list[tuple[Connection, bytes]] = []
        self.observed: list[
            tuple[Connection, str, str, datetime]
        ] = []  # conn, MN, CN, period start
        self.records = 0
        self.landed = 0
        self.bulk_landed = 0
        self.n_dead = 0
        self.n_events = 0
        self.first_at = 0.0
        self.fast: list[tuple[Connection, bytes, datetime]] = []  # bulk lane, parsed at commit
        self.tables: list[pa.Table] = []  # readings of the bulk lane

    @property
    def n_readings(self) -> int:
        return len(self.rows) + sum(t.num_rows for t in self.tables)


@dataclass
class _BulkPlan:
    """What the bulk parse of a batch's bulk lane decided, by position in the lane."""

    rejected: dict[int, Rejected]
    packets: dict[int, tuple] = field(default_factory=dict)  # landed: qn, st, cn, pw, mn, flag, dt
    table: pa.Table | None = None  # their readings, in the site's units


class _Framer:
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

    def __init__(self, server: Hj212Server, writer: asyncio.StreamWriter):
        self.server = server
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
        cfg = server.config
        self.channel = CommandChannel(
            self.send,
            timeout_s=cfg.command_timeout_s,
            retries=cfg.command_retries,
            result_timeout_s=cfg.command_result_timeout_s,
        )
        self.command_lock = asyncio.Lock()  # one command at a time per logger
        self.reassembler = Reassembler(cfg.split_timeout_s)
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


class Hj212Server:
    """The server: accept loggers, batch their readings into the landing zone, answer them."""

    def __init__(
        self,
        config: ServerConfig,
        registry: Registry,
        landing: LandingZone,
        home: Path,
        tz: tzinfo = DEFAULT_TZ,
    ):
        self.config = config
        self.landing = landing
        self.tz = tz
        self.stats = ServerStats()
        self.state_dir = Path(home) / "hj212"
        self.received = ReceivedState(
            self.state_dir / "received.json", timedelta(seconds=config.backfill_max_span_s)
        )
        if self.received.load_error:
            log.warning("%s", self.received.load_error)
        self.journal = Journal(self.state_dir / "backfill.jsonl")
        self._key = installation_key(Path(home))  # logger passwords are held as keyed hashes
        self.contract = config.contract or ReadingContract.from_settings()
        self.logins = LoginLimiter(config.login)
        self.peers = PeerGuard(config.peers)
        self._warned: dict[str, float] = {}  # host -> when its refused connections were last logged
        self.set_registry(registry)
        self._current = _Batch(1)
        self._committed_seq = 0
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._force = False
        self._closing = False
        self._committing = False
        self._server: asyncio.Server | None = None
        self._flusher: asyncio.Task | None = None
        self._handlers: set[asyncio.Task] = set()
        self._tasks: set[asyncio.Task] = set()  # back-fill and clock tasks
        self._conns: set[Connection] = set()
        self._by_mn: dict[str, Connection] = {}
        self._open: dict[str, list[OpenRequest]] = {}
        self._abort_writes = False
        self._bulk = isinstance(tz, ZoneInfo)  # the bulk parser needs a zoneinfo time zone

    def set_registry(self, registry: Registry) -> None:
        """(Re)load the loggers: MN -> outlet site_id; their passwords as keyed hashes."""
        self.registry = registry
        self._loggers = {o.logger.mn: (site_id,) for site_id, (_, o) in registry.outlets.items()}
        self.passwords = Passwords(
            self._key, {o.logger.mn: o.logger.password for _, o in registry.outlets.values()}
        )
        self._factors: dict[tuple[str, str, str], tuple[float, str] | None] = {}
        for conn in getattr(self, "_conns", ()):
            conn.upload_key = None  # a password may have changed: the next packet logs in again

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        """Listen; returns the bound (host, port) (port 0 picks a free one)."""
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._server = await asyncio.start_server(
            self._handle, self.config.host, self.config.port, limit=self.config.max_packet_bytes * 2
        )
        self._flusher = asyncio.create_task(self._flush_loop(), name="hj212-flusher")
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("HJ 212 server listening on %s:%s, landing into %s", host, port, self.landing.root)
        return host, port

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking packets, make everything received durable, answer it, close."""
        if self._server is None or self._closing:
            return
        self._closing = True
        self._server.close()
        for conn in list(self._conns):
            conn.channel.close("server shutting down")
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        self._wake.set()
        if self._flusher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), timeout_s)
            except TimeoutError:
                self._abort_writes = True
                log.error(
                    "landing writes still failing at shutdown: unanswered packets will be resent by the loggers"
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._flusher, 10)
        for conn in list(self._conns):
            await self._close(conn)
        await asyncio.to_thread(self.received.save)
        log.info(
            "stopped: %d records: %d landed (%d readings), %d events, %d dead-lettered; %d answers sent",
            self.stats.records,
            self.stats.packets_landed,
            self.stats.readings,
            self.stats.packets_events,
            self.stats.packets_dead,
            self.stats.replies,
        )

    async def durable(self, force: bool = True) -> None:
        """Wait until everything received so far is durable (and answered); `force=False`
        waits for the batch to be written at its usual time (size or age) instead of now."""
        seq = self._current.seq if self._current.records else self._current.seq - 1
        if seq <= self._committed_seq:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, fut))
        if force:
            self._force = True
            self._wake.set()
        await fut

    def _admit(self, host: str) -> str | None:
        """None when a new connection from `host` may proceed, else why it is closed at once."""
        if self._closing:
            return "server shutting down"
        # a host locked after failed logins is NOT refused here: only its logins that need a
        # check are (auth.LoginLimiter.refusal); its other loggers keep connecting (review I4)
        why = self.peers.admit(host)
        if why is None:
            return None
        self.stats.connections_refused += 1
        now = time.monotonic()
        if now - self._warned.get(host, -1e9) >= 10.0:  # one line per host per 10 s
            self._warned[host] = now
            if len(self._warned) > 10_000:
                self._warned.clear()
            log.warning("tcp://%s: connection closed on accept: %s", host, why)
        return why

    # -- connections ----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        conn = Connection(self, writer)
        refusal = self._admit(conn.host)
        if refusal is not None:  # nothing was received on it: nothing to dead-letter
            if task is not None:
                self._handlers.discard(task)
            await self._close(conn)
            return
        self._conns.add(conn)
        self.stats.connections += 1
        framer = _Framer(self.config.max_packet_bytes)
        why = "connection closed by the logger"
        peer_gone = False
        try:
            while not conn.refused:
                if not self._room.is_set():
                    await self._room.wait()  # backpressure: the landing writer is behind
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
                    self._on_record(conn, record, received_at)
        except asyncio.CancelledError:
            why = "server shut down"
        finally:
            now = datetime.now(UTC)
            if framer.rest:
                self._begin_record()
                self._dead(
                    conn,
                    framer.rest,
                    f"partial packet: {why} after {len(framer.rest)} bytes without CRLF",
                    "partial",
                    now,
                )
            for evicted in conn.reassembler.drain():
                self._evicted(conn, evicted, now)
            self._check_full()
            self._conns.discard(conn)
            self.peers.closed(conn.host)
            if conn.mn and self._by_mn.get(conn.mn) is conn:
                del self._by_mn[conn.mn]
            conn.channel.close("disconnected")
            if task is not None:
                self._handlers.discard(task)
            if not self._closing:
                if not peer_gone:
                    with contextlib.suppress(Exception):
                        # the answers owed go out before we hang up; a refused connection waits
                        # for its batch's usual time (forcing a durable write per refused
                        # connection let one client make ~1,000 files in 6 s: issue 18 item 4)
                        await self.durable(force=not conn.refused)
                await self._close(conn)

    async def _close(self, conn: Connection) -> None:
        conn.closed = True
        with contextlib.suppress(Exception):
            conn.writer.close()
            await asyncio.wait_for(conn.writer.wait_closed(), 5)

    def connection(self, mn: str) -> Connection | None:
        """The live connection of logger `mn` (the last one it sent an accepted packet on)."""
        return self._by_mn.get(mn)

    # -- records --------------------------------------------------------------------------
    def _begin_record(self) -> _Batch:
        b = self._current
        if b.records == 0:
            b.first_at = time.monotonic()
            self._wake.set()
        b.records += 1
        return b

    def _check_full(self) -> None:
        b = self._current
        if b.n_readings >= self.config.batch_readings or b.records >= self.config.batch_records:
            self._wake.set()
            if self._committing:
                self._room.clear()

    def _on_record(self, conn: Connection, record: bytes, received_at: datetime) -> None:
        b = self._begin_record()
        if self._bulk_lane(conn, record):
            conn.auth_failures = 0
            b.fast.append((conn, record, received_at))
            self._check_full()
            return
        try:
            self._process(conn, record, received_at)
        except Exception as exc:  # the server never crashes on input
            log.exception("%s: unexpected error handling a packet", conn.origin())
            self._dead(
                conn,
                record,
                f"internal error while handling the packet: {exc!r}",
                "internal",
                received_at,
            )
        self._check_full()

    def _bulk_lane(self, conn: Connection, record: bytes) -> bool:
        """A plain data upload of the logger this connection is bound to (same MN, password and
        ST, not split, no command of ours waiting for it): parsed in bulk when its batch is
        written. Anything else (first packet, logins, answers, split packets) is handled here."""
        if (
            not self._bulk
            or conn.upload_key is None
            or len(record) > self.config.max_packet_bytes
            or conn.channel.busy
        ):
            return False
        m = _UPLOAD_HEADER.match(record)
        if m is None or m[2] not in _DATA_CNS or int(m[5]) & FLAG_SPLIT:
            return False
        return (m[4], m[3], m[1]) == conn.upload_key and self._by_mn.get(conn.mn or "") is conn

    def _process(self, conn: Connection, record: bytes, received_at: datetime) -> None:
        cfg = self.config
        if len(record) > cfg.max_packet_bytes:
            self._dead(
                conn,
                record,
                f"packet too long: {len(record)} bytes, maximum {cfg.max_packet_bytes}",
                "too_long",
                received_at,
            )
            return
        # the time window is the reading contract's, checked once the logger is known
        result = try_parse(record, self.tz, max_future=None)
        if not result.ok or result.packet is None:
            self._dead(
                conn, record, f"{result.kind}: {result.error}", result.kind or "frame", received_at
            )
            return
        packet = result.packet
        if packet.mn == conn.mn and conn.channel.on_packet(packet):
            self._event(conn, packet, record, received_at, "answer to a platform command")
            return
        refusal = self._authenticate(conn, packet)
        if refusal is not None:
            kind, reason = refusal
            self.stats.auth_failures += 1
            conn.auth_failures += 1
            self._dead(conn, record, reason, kind, received_at, mn=packet.mn)
            if packet.ack_requested and packet.qn and packet.cn not in _ANSWER_CNS:
                # one answer for an unknown MN, a wrong password and a locked login alike
                # (QnRtn 3), sent at the batch's time like every answer: a guesser learns nothing
                reply = builders.request_answer(packet, builders.QN_PW_ERROR)
                self._current.replies.append((conn, reply))
            if conn.auth_failures >= cfg.max_auth_failures and not conn.refused:
                log.info(  # WARNING is for lockouts and throttles: a flood must not flood the log
                    "%s: %d refused packets in a row, closing",
                    conn.origin(packet.mn),
                    conn.auth_failures,
                )
                conn.refused = True
            return
        conn.auth_failures = 0
        self._bind(conn, packet)
        problem = self._time_problem(packet, received_at)
        if problem is not None:
            self._refuse(conn, packet, [record], f"time: {problem}", "time", received_at)
            return
        if packet.pnum is not None:
            key = (packet.mn, packet.qn)
            conn.split_raw.setdefault(key, []).append(record)
            joined = conn.reassembler.add(packet)
            for evicted in conn.reassembler.evict():
                self._evicted(conn, evicted, received_at)
            if joined is None:
                return
            raws = conn.split_raw.pop(key, [record])
            self._accept(conn, joined, raws, received_at, parts=len(raws))
            return
        self._accept(conn, packet, [record], received_at, parts=1)

    def _authenticate(self, conn: Connection, packet: Packet) -> tuple[str, str] | None:
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
        entry = self._loggers.get(mn)
        if entry is None:
            reason = f"unknown MN {mn!r}: no outlet in the registry has this logger"
            if packet.pw:  # its keyed hash, never the password: a retry after enrolment checks it
                reason += f" [pw {password_hmac(self._key, mn, packet.pw)}]"
            return "unknown_mn", reason
        return "bad_password", f"wrong password for MN {mn!r} (logger of outlet {entry[0]})"

    def _login_failed(self, conn: Connection, packet: Packet, checked: bool) -> None:
        for lockout in self.logins.failed(packet.mn or "", conn.host, checked=checked):
            self.stats.lockouts += 1
            text = lockout.describe()
            log.warning("%s: %s", conn.origin(packet.mn), text)  # never the password
            self._current.events.append({
                "received_at": datetime.now(UTC).isoformat(), "peer": conn.peer, "mn": packet.mn,
                "site_id": self._loggers.get(packet.mn or "", (None,))[0], "event": "login_lockout",
                "lockout": lockout.kind, "locked": lockout.key, "failures": lockout.failures,
                "until": lockout.until.isoformat(), "note": text,
            })  # fmt: skip
            if lockout.kind == "peer":  # the host's connections that never logged in go
                for other in self._conns:
                    if other.host == lockout.key and other.upload_key is None:
                        other.refused = True
        if not checked and conn.upload_key is None:
            conn.refused = True  # a locked login: no point in reading more from this connection

    def _time_problem(self, packet: Packet, now: datetime) -> str | None:
        """Why the packet's DataTime breaks the reading contract (before `reading_earliest`,
        later than now + `reading_max_future_s`), or None. The period start its readings get is
        checked (an end-labelled packet's DataTime shifted back by its period), as the bulk lane
        checks its readings' period_start: both lanes take and refuse the same packets."""
        if packet.datatime is None or packet.cn in _ANSWER_CNS:
            return None
        start = labelled_start(
            packet.cn, packet.datatime, self.registry.logger_facts(packet.mn or "")
        )
        problem = self.contract.time_problem(start, now)
        if problem is None:
            return None
        problem = problem.replace("field 'period_start': ", "")
        return f"DataTime {packet.get('DataTime')} refused by the reading contract: {problem}"

    def _refuse(
        self,
        conn: Connection,
        packet: Packet,
        raws: list[bytes],
        reason: str,
        kind: str,
        received_at: datetime,
    ) -> None:
        """An authenticated packet the reading contract refuses whole: one dead letter with its
        reasons, and (when it asked for an answer) the refusal answer 9011 QnRtn=2 — not the
        data answer 9014, which would tell the logger its data were taken, and not silence,
        which leaves it resending the same packet for ever (issue 18 item 12)."""
        raw = raws[0] if len(raws) == 1 else b"\r\n".join(raws)
        self.stats.contract_refused += len(raws)
        self._dead(conn, raw, reason, kind, received_at, mn=packet.mn, records=len(raws))
        if packet.ack_requested and packet.qn and packet.cn not in _ANSWER_CNS:
            reply = builders.request_answer(packet, builders.QN_REJECTED)
            self._current.replies.append((conn, reply))

    def _bind(self, conn: Connection, packet: Packet) -> None:
        mn = packet.mn or ""
        first = conn.mn is None
        if conn.mn != mn:
            conn.mn, conn.site_id = mn, self._loggers[mn][0]
        conn.pw = packet.pw or ""
        if packet.st and packet.st != builders.ST_SYSTEM:
            conn.st = packet.st
        conn.upload_key = (mn.encode(), conn.pw.encode(), conn.st.encode())
        if self._by_mn.get(mn) is not conn:
            self._by_mn[mn] = conn
        if first and self.config.sync_clocks and not self._closing:
            self._spawn(self._sync_clock(conn))

    def _accept(
        self, conn: Connection, packet: Packet, raws: list[bytes], received_at: datetime, parts: int
    ) -> None:
        """An authenticated, whole packet: readings, event or dead letter, and its answer."""
        b = self._current
        mn = packet.mn or ""
        site_id = self._loggers[mn][0]
        raw = raws[0] if len(raws) == 1 else b"\r\n".join(raws)
        if packet.cn in INTERVAL_BY_CN:
            res = packet_to_readings(
                packet, lambda _mn: site_id, received_at, facts_of=self.registry.logger_facts
            )  # the logger's minute interval and period label (registry)
            refused = self._contract_problems(res.rows, received_at)
            if refused and not res.rows:  # nothing of it may land: refused, and told so
                reasons = refused + (
                    [f"unknown pollutant code(s) {', '.join(map(repr, res.unknown_codes))}"]
                    if res.unknown_codes else []
                )  # fmt: skip
                self._refuse(
                    conn, packet, raws, "contract: " + "; ".join(reasons), "contract", received_at
                )
                return
            if res.rows:
                for row in res.rows:
                    self._to_site_unit(site_id, row)
                b.rows.extend(res.rows)
                b.landed += parts
                if res.unknown_codes or refused:  # one dead letter for the packet, all its reasons
                    reasons = refused + (
                        [f"unknown pollutant code(s) {', '.join(map(repr, res.unknown_codes))}: "
                         "no parameter mapping"] if res.unknown_codes else []
                    )  # fmt: skip
                    kind = "contract" if refused else "unknown_code"
                    if refused:
                        self.stats.contract_refused += 1
                    self._dead_row(
                        conn,
                        raw,
                        ("contract: " if refused else "")
                        + "; ".join(reasons)
                        + " (the packet's other values landed)",
                        kind,
                        received_at,
                        mn,
                    )
                if packet.cn in BACKFILL_INTERVAL_S and packet.datatime is not None:
                    b.observed.append((conn, mn, packet.cn, packet.datatime))
            elif res.unknown_codes:
                self._dead(
                    conn,
                    raw,
                    f"unknown pollutant code(s) {', '.join(map(repr, res.unknown_codes))}: "
                    "no parameter mapping, no value could be used",
                    "unknown_code",
                    received_at,
                    mn=mn,
                    records=parts,
                )
            else:
                self._event(
                    conn,
                    packet,
                    raw,
                    received_at,
                    res.skipped or "data packet without values",
                    parts,
                )
        elif packet.cn in EVENT_CNS:  # running status and alarms land as logger events
            try:
                rows = packet_to_events(
                    packet, site_id, received_at, self.registry.logger_facts(mn), self.tz
                )
            except EventError as exc:
                # kept in the event log with the reason, as offline ingest does
                self._event(conn, packet, raw, received_at, str(exc), parts)
            else:
                b.logger_events.extend(rows)
                b.landed += parts
        else:
            self._event(
                conn, packet, raw, received_at, f"CN {packet.cn} carries no readings", parts
            )
        if packet.cn not in _ANSWER_CNS and packet.ack_requested:
            if parts == 1:
                reply = builders.reply_for(packet)
                if reply is not None:
                    b.replies.append((conn, reply))
            else:  # split packets are answered per part, each echoing its own QN
                for part_raw in raws:
                    part = try_parse(part_raw, self.tz, max_future=None).packet
                    if part is not None and (reply := builders.reply_for(part)) is not None:
                        b.replies.append((conn, reply))

    def _contract_problems(self, rows: list[dict], received_at: datetime) -> list[str]:
        """Remove from `rows` the readings the reading contract refuses; their reasons."""
        reasons: list[str] = []
        keep = []
        for row in rows:
            # non-finite values are carried by the row (readings.py) and refused here
            problem = self.contract.row_problem(row, received_at)
            if problem is None:
                keep.append(row)
            else:
                reasons.append(f"{row['parameter']} ({extra_code(row)}): {problem}")
        rows[:] = keep
        return reasons

    def _to_site_unit(self, site_id: str, row: dict) -> None:
        """Convert a reading to the unit the registry gives the outlet's parameter, when they differ."""
        conversion = self._cached_conversion(site_id, row["parameter"], row["unit"])
        if conversion is not None:
            factor, unit = conversion
            for col in CONVERTED_COLUMNS:
                row[col] = convert_value(row[col], factor)
            row["unit"] = unit

    def _cached_conversion(
        self, site_id: str, parameter: str, unit: str
    ) -> tuple[float, str] | None:
        key = (site_id, parameter, unit)
        if key not in self._factors:
            self._factors[key] = site_unit_conversion(self.registry, *key)
        return self._factors[key]

    # -- sinks ----------------------------------------------------------------------------
    def _dead_row(
        self,
        conn: Connection,
        raw: bytes,
        reason: str,
        kind: str,
        received_at: datetime,
        mn: str | None = None,
    ) -> None:
        b = self._current
        raw, masked = mask_passwords(raw)  # every password tried, right or wrong, is masked
        if masked:
            reason = f"{reason} {MASK_NOTE}"
        b.dead.append(
            {"origin": conn.origin(mn), "reason": reason, "raw": raw, "received_at": received_at}
        )
        b.dead_kinds[kind] += 1

    def _dead(
        self,
        conn: Connection,
        raw: bytes,
        reason: str,
        kind: str,
        received_at: datetime,
        mn: str | None = None,
        records: int = 1,
    ) -> None:
        """A whole record (or `records` split parts) goes to the dead letters."""
        self._dead_row(conn, raw, reason, kind, received_at, mn)
        self._current.n_dead += records
        if conn.mn is None and self.peers.refused(conn.host):  # a peer sending only refused records
            self.stats.peers_throttled += 1
            log.warning(
                "tcp://%s: %d refused records within %g s without a login: host throttled for %g s",
                conn.host,
                self.config.peers.max_refused,
                self.config.peers.window_s,
                self.config.peers.throttle_s,
            )
            for other in self._conns:
                if other.host == conn.host and other.mn is None:
                    other.refused = True

    def _evicted(self, conn: Connection, evicted: Evicted, received_at: datetime) -> None:
        raws = conn.split_raw.pop(evicted.key, [])
        for raw in raws:
            self._dead(
                conn, raw, f"split: {evicted.reason}", "split", received_at, mn=evicted.key[0]
            )

    def _event(
        self,
        conn: Connection,
        packet: Packet,
        raw: bytes,
        received_at: datetime,
        note: str | None,
        records: int = 1,
    ) -> None:
        b = self._current
        b.events.append({
            "received_at": received_at.isoformat(), "peer": conn.peer, "mn": packet.mn,
            "site_id": self._loggers.get(packet.mn or "", (None,))[0], "st": packet.st, "cn": packet.cn,
            "qn": packet.qn, "datatime": packet.datatime.isoformat() if packet.datatime else None,
            "note": note, "raw": mask_passwords(raw)[0].decode("utf-8", errors="backslashreplace"),
        })  # fmt: skip
        b.n_events += records

    # -- the landing writer ---------------------------------------------------------------
    async def _flush_loop(self) -> None:
        wait_s = self.config.batch_wait_s
        while True:
            b = self._current
            if b.records == 0:
                if self._closing:
                    break
                if self._force and self._waiters:
                    self._force = False
                    self._release(self._committed_seq)
                self._wake.clear()
                await self._wake.wait()
                continue
            age = time.monotonic() - b.first_at
            full = (
                b.n_readings >= self.config.batch_readings or b.records >= self.config.batch_records
            )
            if not (full or self._force or self._closing or age >= wait_s):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s - age)
                continue
            self._current = _Batch(b.seq + 1)
            self._force = False
            self._committing = True
            self._room.set()
            try:
                await self._resolve_bulk(b)
                await self._commit(b)
            finally:
                self._committing = False
        self._release(self._current.seq)

    # -- the bulk lane ------------------------------------------------------------------------
    async def _resolve_bulk(self, b: _Batch) -> None:
        """Parse the batch's bulk-lane records together (in a thread), then file each one: its
        readings, its dead letter, or, for anything but a plain landed upload, the per-packet
        path (same reasons, events and answers as if it had been handled on arrival)."""
        items, b.fast = b.fast, []
        if not items:
            return
        try:
            plan = await asyncio.to_thread(self._parse_bulk, items)
        except Exception:  # never lose records to a bulk-parser bug: the per-packet path takes them
            log.exception("bulk parse of %d records failed; handling them one by one", len(items))
            plan = None
        current, self._current = self._current, b  # the per-packet path files into batch b
        try:
            self._file_bulk(b, items, plan)
        finally:
            self._current = current

    def _parse_bulk(self, items: list[tuple[Connection, bytes, datetime]]) -> _BulkPlan:
        got = parse_batch(
            [raw for _, raw, _ in items],
            site_of=lambda mn: self._loggers.get(mn, (None,))[0],
            facts_of=self.registry.logger_facts,
            tz=self.tz,
            max_future=None,  # the reading contract's time window is applied below
        )
        plan = _BulkPlan(rejected={r.record: r for r in got.rejected})
        # only plain uploads whose readings all landed take the bulk lane to the end
        per_packet = {r for r, _ in got.unknown_codes}
        per_packet |= {r for r, _ in got.unknown_mn} | {r for r, _ in got.skipped}
        # a non-finite value ("Infinity") is carried by its reading (readings.py) and refused by
        # the contract below: the packet goes per packet, which files it with its reason
        pk = got.packets.select("record", "qn", "st", "cn", "pw", "mn", "flag", "pnum", "datatime")
        cand: dict[tuple[str, datetime], list[int]] = {}
        for rec, qn, st, cn, pw, mn, flag, pnum, dt in pk.iter_rows():
            conn = items[rec][0]
            key = conn.upload_key
            if (
                rec in per_packet or pnum is not None or dt is None or key is None
                or (mn or "").encode() != key[0] or (pw or "").encode() != key[1]
            ):  # fmt: skip
                continue
            plan.packets[rec] = (qn, st, cn, pw, mn, flag, dt)
            # its readings' start
            start = labelled_start(cn, dt, self.registry.logger_facts(mn or ""))
            cand.setdefault((f"hj212:{mn}:{qn or ''}", start), []).append(rec)
        # a reading names its packet by (origin, period_start): ambiguous keys go per packet
        keys = [(k, recs[0]) for k, recs in cand.items() if len(recs) == 1]
        for recs in cand.values():
            if len(recs) > 1:
                for rec in recs:
                    del plan.packets[rec]
        readings = pl.from_arrow(got.readings)
        assert isinstance(readings, pl.DataFrame)
        ts = readings.schema["period_start"]
        index = pl.DataFrame(
            {
                "origin": [k[0] for k, _ in keys],
                "period_start": [k[1] for k, _ in keys],
                "_record": [rec for _, rec in keys],
                "_received_at": [items[rec][2] for _, rec in keys],
            },
            schema={"origin": pl.String, "period_start": ts, "_record": pl.Int64,
                    "_received_at": readings.schema["received_at"]},
        )  # fmt: skip
        rows = (
            readings.with_row_index("_i")
            .join(index, on=["origin", "period_start"], how="inner")
            .sort("_i")
        )
        # the reading contract (time window, finite values, flags, unit): a packet with any
        # refused reading goes per packet, which files it with its reasons and answers it
        if rows.height:
            now = min(received for _, _, received in items)  # as strict as the per-packet check
            _, refused = self.contract.split(rows.to_arrow(), now)
            if refused:
                bad = rows[[i for i, _ in refused]]["_record"].unique().to_list()
                rows = rows.filter(~pl.col("_record").is_in(bad))
                for rec in bad:
                    plan.packets.pop(rec, None)
        landed = set(rows["_record"].unique().to_list())
        for rec in list(plan.packets):
            if rec not in landed:  # no readings after all (e.g. no values): per packet
                del plan.packets[rec]
        rows = rows.with_columns(received_at=pl.col("_received_at")).drop(
            "_i", "_record", "_received_at"
        )
        plan.table = self._site_units(rows).to_arrow().cast(got.readings.schema)
        return plan

    def _site_units(self, rows: pl.DataFrame) -> pl.DataFrame:
        """`_to_site_unit` for a whole table: only rows whose unit differs are touched."""
        return to_site_units(rows, self._cached_conversion)

    def _file_bulk(
        self, b: _Batch, items: list[tuple[Connection, bytes, datetime]], plan: _BulkPlan | None
    ) -> None:
        if plan is not None and plan.table is not None and plan.table.num_rows:
            b.tables.append(plan.table)
        for rec, (conn, raw, received_at) in enumerate(items):
            rejected = plan.rejected.get(rec) if plan is not None else None
            landed = plan.packets.get(rec) if plan is not None else None
            if rejected is not None:
                kind = rejected.kind or None
                self._dead(conn, raw, f"{kind}: {rejected.reason}", kind or "frame", received_at)
            elif landed is not None:
                qn, st, cn, pw, mn, flag, dt = landed
                b.landed += 1
                b.bulk_landed += 1
                if cn in BACKFILL_INTERVAL_S:
                    b.observed.append((conn, mn, cn, dt.astimezone(self.tz)))
                packet = Packet(cn=cn, qn=qn, st=st, pw=pw, mn=mn, flag=flag)
                if (reply := builders.reply_for(packet)) is not None:
                    b.replies.append((conn, reply))
            else:
                try:
                    self._process(conn, raw, received_at)
                except Exception as exc:  # the server never crashes on input
                    log.exception("%s: unexpected error handling a packet", conn.origin())
                    self._dead(
                        conn,
                        raw,
                        f"internal error while handling the packet: {exc!r}",
                        "internal",
                        received_at,
                    )

    def _release(self, seq: int) -> None:
        self._committed_seq = max(self._committed_seq, seq)
        keep = []
        for want, fut in self._waiters:
            if want <= self._committed_seq:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((want, fut))
        self._waiters = keep

    async def _commit(self, b: _Batch) -> None:
        ok = await asyncio.to_thread(self._write_durably, b)
        if not ok:
            return
        s = self.stats
        s.batches += 1
        s.records += b.records
        s.packets_landed += b.landed
        s.packets_bulk += b.bulk_landed
        s.packets_events += b.n_events
        s.packets_dead += b.n_dead
        s.readings += b.n_readings
        s.dead_letters += len(b.dead)
        s.dead_reasons.update(b.dead_kinds)
        for conn, reply in b.replies:
            if conn.send(reply):
                s.replies += 1
            else:
                s.replies_lost += 1
        self._after_durable(b)
        self._release(b.seq)

    def _write_durably(self, b: _Batch) -> bool:
        """Readings, dead letters and events of one batch, retried until written."""
        steps = []
        if b.rows or b.tables:
            tables = ([readings_table(b.rows)] if b.rows else []) + b.tables
            steps.append(lambda: self.landing.write_readings(pa.concat_tables(tables), SOURCE_KIND))
        if b.logger_events:
            steps.append(
                lambda: self.landing.write_logger_events(events_table(b.logger_events), SOURCE_KIND)
            )
        if b.dead:
            steps.append(lambda: self.landing.write_dead_letters(b.dead, SOURCE_KIND))
        if b.events:
            steps.append(lambda: self._write_events(b.events))
        delay = 0.5
        while steps:
            try:
                steps[0]()
                steps.pop(0)
            except Exception:
                self.stats.write_errors += 1
                log.exception(
                    "landing write failed; %d records stay unanswered, retrying in %.1f s",
                    b.records,
                    delay,
                )
                if self._abort_writes:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, self.config.write_retry_max_s)
        return True

    def _write_events(self, events: list[dict]) -> None:
        append_event_log(self.state_dir, events)

    # -- back-fill ------------------------------------------------------------------------
    def _after_durable(self, b: _Batch) -> None:
        gaps: list[tuple[Connection, Gap]] = []
        for conn, mn, cn, at in b.observed:
            for req in self._open.get(mn, ()):
                if req.covers(cn, at):
                    req.received.add(at)
            facts = self.registry.logger_facts(mn)
            gap = self.received.observe(
                mn, cn, at, minute_interval_s=facts.minute_interval_s if facts else None
            )
            if gap is not None:
                gaps.append((conn, gap))
        if b.observed:
            self._spawn(asyncio.to_thread(self.received.save))
        if not self.config.backfill or self._closing:
            return
        for conn, gap in gaps:
            if not conn.closed and conn.mn == gap.mn:
                self._spawn(self._backfill(conn, gap))

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _backfill(self, conn: Connection, gap: Gap) -> None:
        req = OpenRequest(gap)
        self._open.setdefault(gap.mn, []).append(req)
        where = {
            "mn": gap.mn,
            "site_id": conn.site_id,
            "cn": gap.cn,
            "begin": gap.begin,
            "end": gap.end,
            "slots": gap.slots,
        }
        try:
            async with conn.command_lock:
                qn = conn.channel.new_qn(self.tz)
                await asyncio.to_thread(self.journal.write, "requested", qn=qn, **where)
                result = await _request_history(
                    conn.channel, conn.address, gap.cn, gap.begin, gap.end, self.tz, qn
                )
                if result.qn_rtn == builders.QN_READY:
                    await self.durable()  # the re-sent data are counted once durable
        finally:
            self._open[gap.mn].remove(req)
            if not self._open[gap.mn]:
                del self._open[gap.mn]
        await asyncio.to_thread(
            self.journal.write,
            result.outcome,
            qn=result.qn,
            received=len(req.received),
            qn_rtn=result.qn_rtn,
            exe_rtn=result.exe_rtn,
            error=result.error,
            attempts=result.attempts,
            **where,
        )
        log.info(
            "back-fill %s %s %s..%s: %s, %d of %d periods received",
            gap.mn,
            gap.cn,
            gap.begin,
            gap.end,
            result.outcome,
            len(req.received),
            gap.slots,
        )

    async def _sync_clock(self, conn: Connection) -> None:
        async with conn.command_lock:
            reading = await _read_clock(conn.channel, conn.address, self.tz)
            logger_time = reading.system_time(self.tz)
            entry = {
                "mn": conn.mn,
                "site_id": conn.site_id,
                "qn": reading.qn,
                "outcome": reading.outcome,
                "logger_time": logger_time,
                "error": reading.error,
            }
            if logger_time is not None:
                drift = (logger_time - datetime.now(self.tz)).total_seconds()
                entry["drift_s"] = round(drift, 3)
                if abs(drift) > self.config.max_clock_drift_s:
                    setting = await _set_clock(
                        conn.channel, conn.address, datetime.now(self.tz), self.tz
                    )
                    entry["set_outcome"] = setting.outcome
            await asyncio.to_thread(self.journal.write, "clock", **entry)

    # -- commands for operators and jobs --------------------------------------------------
    def _live(self, mn: str) -> Connection:
        conn = self._by_mn.get(mn)
        if conn is None or conn.closed:
            raise LookupError(f"logger MN {mn!r} is not connected")
        return conn

    async def set_clock(self, mn: str, at: datetime | None = None) -> CommandResult:
        conn = self._live(mn)
        async with conn.command_lock:
            return await _set_clock(
                conn.channel, conn.address, at or datetime.now(self.tz), self.tz
            )

    async def read_clock(self, mn: str) -> CommandResult:
        conn = self._live(mn)
        async with conn.command_lock:
            return await _read_clock(conn.channel, conn.address, self.tz)

    async def request_history(
        self, mn: str, cn: str, begin: datetime, end: datetime
    ) -> CommandResult:
        """Ask a connected logger to re-send its data of [begin, end]; returns once they are durable."""
        conn = self._live(mn)
        async with conn.command_lock:
            result = await _request_history(conn.channel, conn.address, cn, begin, end, self.tz)
        if result.qn_rtn == builders.QN_READY:
            await self.durable()
        return result


# --- running it as a daemon ------------------------------------------------------------------


def run_server(
    settings: Settings, config: ServerConfig, *, stats_every_s: float = 30.0
) -> ServerStats:
    """Serve until SIGTERM or SIGINT (then flush, answer and close); SIGHUP reloads the registry."""
    from core.registry.config import load_registry

    registry = load_registry(settings.config_dir)  # ingestors never open the warehouse
    server = Hj212Server(
        config, registry, LandingZone(settings.landing_root), settings.home, settings.tz
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def reload() -> None:
            try:
                server.set_registry(load_registry(settings.config_dir))
                log.info("registry reloaded from %s", settings.config_dir)
            except Exception as exc:
                log.error("registry reload failed, keeping the previous one: %s", exc)

        loop.add_signal_handler(signal.SIGHUP, reload)
        host, port = await server.start()
        print(f"envmon hj212: listening on {host}:{port}", flush=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), stats_every_s)
            s = server.stats
            log.info(
                "%d connections, %d records: %d landed (%d readings), %d events, %d dead-lettered",
                len(server._conns),
                s.records,
                s.packets_landed,
                s.readings,
                s.packets_events,
                s.packets_dead,
            )
        log.info("shutting down: flushing and answering")
        await server.stop()

    asyncio.run(main())
    return server.stats
