"""The HJ 212 TCP server: data loggers connect, their packets become landing-zone batches.

- Many loggers at once (asyncio). A TCP read may hold part of a packet or several; records
  are cut at CRLF, and a record longer than `max_packet_bytes` is refused.
- Every record ends in exactly one place (`ServerStats` counts them so they add up):
  * readings in the landing zone (packets with values of known codes);
  * the event log `<ENVMON_HOME>/hj212/events/<UTC date>.jsonl` (well-formed packets of a
    registered logger that carry no readings: heartbeats, run status, alarms, answers to our
    commands, notices), one JSON object per packet with the raw text;
  * dead letters (source hj212) with the raw bytes, the peer (origin `tcp://host:port[/MN]`)
    and the reason: bad frame, CRC, length, malformed field, future timestamp, unknown MN,
    wrong password, packet too long, partial packet at disconnect or idle timeout, split
    packet never completed. A packet whose codes are partly unknown lands its known values and
    is dead-lettered too, naming the unknown codes.
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
  QnRtn=3/4 for a refused packet that asked for an answer. A crash before that leaves the
  logger without its answer, and it sends again; the copy collapses in the warehouse loader.
- The password is checked per packet against the logger (MN) of an outlet in the registry;
  after `max_auth_failures` refused packets in a row the connection is closed.
- Gaps are filled by asking the logger for its history (see backfill.py); commands to a
  connected logger (clock, history) are `Hj212Server.set_clock/read_clock/request_history`.
- Nothing in a packet can crash the server: any unexpected error becomes a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
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

from envmon.settings import Settings
from ingest.hj212 import builders
from ingest.hj212.backfill import BACKFILL_INTERVAL_S, Gap, Journal, OpenRequest, ReceivedState
from ingest.hj212.bulk import Rejected, parse_batch
from ingest.hj212.commands import CommandChannel, CommandResult, LoggerAddress
from ingest.hj212.commands import read_clock as _read_clock
from ingest.hj212.commands import request_history as _request_history
from ingest.hj212.commands import set_clock as _set_clock
from ingest.hj212.packet import FLAG_SPLIT, Packet
from ingest.hj212.protocol import DEFAULT_TZ, split_frames, try_parse
from ingest.hj212.readings import INTERVAL_BY_CN, packet_to_readings
from ingest.hj212.reassembly import Evicted, Reassembler
from ingest.landing import LandingZone, readings_table
from warehouse.registry.config import Registry

log = logging.getLogger("envmon.hj212")

SOURCE_KIND = "hj212"
DEFAULT_PORT = 9212
_ANSWER_CNS = frozenset({"9011", "9012", "9013", "9014"})  # answers are never answered
_CONVERTED = (
    "value",
    "value_min",
    "value_max",
    "value_zs",
)  # Cou is an amount, not a concentration
# The header of a plain data upload, read from the raw bytes to pick the bulk lane (the CRC and
# everything else are still checked there, by the bulk parser).
_UPLOAD_HEADER = re.compile(
    rb"##\d{4}QN=\d*;ST=([^;]*);CN=(\d{4});PW=([^;]*);MN=([^;]*);Flag=(\d{1,3});CP=&&"
)
_DATA_CNS = frozenset(cn.encode() for cn in INTERVAL_BY_CN)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    max_packet_bytes: int = 16384  # a record (frame without CRLF) longer than this is refused
    idle_timeout_s: float = 600.0  # close a connection silent this long
    batch_readings: int = 20000  # write a landing batch when it holds this many readings...
    batch_records: int = 5000  # ...or this many records...
    batch_wait_s: float = 0.5  # ...or when its first record is this old
    max_future_s: float = 3600.0  # DataTime later than now + this is refused
    max_auth_failures: int = 3  # refused packets in a row before the connection is closed
    split_timeout_s: float = 300.0  # split packet (PNUM/PNO) parts wait this long for the rest
    backfill: bool = True  # ask loggers for missing history
    backfill_max_span_s: float = 7 * 86400.0
    command_timeout_s: float = 10.0  # HJ 212-2017 Table 1: 10 s, 3 retries
    command_retries: int = 3
    command_result_timeout_s: float = 120.0
    sync_clocks: bool = False  # read each logger's clock on connect; set it when it drifts
    max_clock_drift_s: float = 60.0
    write_retry_max_s: float = 30.0


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
    auth_failures: int = 0
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
        """(Re)load the loggers: MN -> (outlet site_id, password)."""
        self.registry = registry
        self._loggers = {
            o.logger.mn: (site_id, o.logger.password)
            for site_id, (_, o) in registry.outlets.items()
        }
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

    async def durable(self) -> None:
        """Wait until everything received so far is durable (and answered)."""
        seq = self._current.seq if self._current.records else self._current.seq - 1
        if seq <= self._committed_seq:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, fut))
        self._force = True
        self._wake.set()
        await fut

    # -- connections ----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        conn = Connection(self, writer)
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
            if conn.mn and self._by_mn.get(conn.mn) is conn:
                del self._by_mn[conn.mn]
            conn.channel.close("disconnected")
            if task is not None:
                self._handlers.discard(task)
            if not self._closing:
                if not peer_gone:
                    with contextlib.suppress(Exception):
                        await self.durable()  # the answers owed go out before we hang up
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
        result = try_parse(record, self.tz, max_future=timedelta(seconds=cfg.max_future_s))
        if not result.ok or result.packet is None:
            self._dead(
                conn, record, f"{result.kind}: {result.error}", result.kind or "frame", received_at
            )
            return
        packet = result.packet
        if packet.mn == conn.mn and conn.channel.on_packet(packet):
            self._event(conn, packet, record, received_at, "answer to a platform command")
            return
        refusal = self._authenticate(packet)
        if refusal is not None:
            kind, reason, qn_rtn = refusal
            self.stats.auth_failures += 1
            conn.auth_failures += 1
            self._dead(conn, record, reason, kind, received_at, mn=packet.mn)
            if packet.ack_requested and packet.qn and packet.cn not in _ANSWER_CNS:
                self._current.replies.append((conn, builders.request_answer(packet, qn_rtn)))
            if conn.auth_failures >= cfg.max_auth_failures:
                log.warning(
                    "%s: %d refused packets in a row, closing",
                    conn.origin(packet.mn),
                    conn.auth_failures,
                )
                conn.refused = True
            return
        conn.auth_failures = 0
        self._bind(conn, packet)
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

    def _authenticate(self, packet: Packet) -> tuple[str, str, int] | None:
        """None when the packet's MN and password are a registered logger's; else the refusal."""
        if not packet.mn:
            return (
                "unknown_mn",
                "no MN in the packet: cannot tell which logger sent it",
                builders.QN_REJECTED,
            )
        entry = self._loggers.get(packet.mn)
        if entry is None:
            return (
                "unknown_mn",
                f"unknown MN {packet.mn!r}: no outlet in the registry has this logger",
                4,
            )  # QnRtn 4: MN error (HJ 212-2017 Table 7)
        site_id, password = entry
        if packet.pw != password:
            return (
                "bad_password",
                f"wrong password for MN {packet.mn!r} (logger of outlet {site_id})",
                builders.QN_PW_ERROR,
            )
        return None

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
            res = packet_to_readings(packet, lambda _mn: site_id, received_at)
            if res.rows:
                for row in res.rows:
                    self._to_site_unit(site_id, row)
                b.rows.extend(res.rows)
                b.landed += parts
                if res.unknown_codes:
                    self._dead_row(
                        conn,
                        raw,
                        f"unknown pollutant code(s) {', '.join(map(repr, res.unknown_codes))}: "
                        f"no parameter mapping (the packet's other values landed)",
                        "unknown_code",
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

    def _to_site_unit(self, site_id: str, row: dict) -> None:
        """Convert a reading to the unit the registry gives the outlet's parameter, when they differ."""
        key = (site_id, row["parameter"], row["unit"])
        if key not in self._factors:
            self._factors[key] = self._conversion(*key)
        conversion = self._factors[key]
        if conversion is not None:
            factor, unit = conversion
            for col in _CONVERTED:
                v = row[col]
                if v is not None:
                    row[col] = float(f"{v * factor:.12g}")  # no binary noise from the factor
            row["unit"] = unit

    def _conversion(self, site_id: str, parameter: str, unit: str) -> tuple[float, str] | None:
        if parameter not in self.registry.parameters:
            return None  # a parameter the registry does not know: keep the packet's unit
        target = self.registry.site_unit(site_id, parameter)
        if target == unit or not self.registry.convertible(unit, target):
            return None
        return self.registry.conversion_factor(unit, target), target

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
            "note": note, "raw": raw.decode("utf-8", errors="backslashreplace"),
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
            tz=self.tz,
            max_future=timedelta(seconds=self.config.max_future_s),
        )
        plan = _BulkPlan(rejected={r.record: r for r in got.rejected})
        # only plain uploads whose readings all landed take the bulk lane to the end
        per_packet = {r for r, _ in got.unknown_codes}
        per_packet |= {r for r, _ in got.unknown_mn} | {r for r, _ in got.skipped}
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
            cand.setdefault((f"hj212:{mn}:{qn or ''}", dt), []).append(rec)
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
        for site_id, parameter, unit in rows.select("site_id", "parameter", "unit").unique().rows():
            key = (site_id, parameter, unit)
            if key not in self._factors:
                self._factors[key] = self._conversion(*key)
            conversion = self._factors[key]
            if conversion is None:
                continue
            factor, target = conversion
            hit = (
                (pl.col("site_id") == site_id)
                & (pl.col("parameter") == parameter)
                & (pl.col("unit") == unit)
            )
            scaled = [
                pl.when(hit)
                .then(
                    pl.col(c).map_elements(
                        lambda v, f=factor: float(f"{v * f:.12g}"), return_dtype=pl.Float64
                    )
                )
                .otherwise(pl.col(c))
                .alias(c)
                for c in _CONVERTED
            ]
            rows = rows.with_columns(
                *scaled, unit=pl.when(hit).then(pl.lit(target)).otherwise(pl.col("unit"))
            )
        return rows

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
        directory = self.state_dir / "events"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"
        text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    # -- back-fill ------------------------------------------------------------------------
    def _after_durable(self, b: _Batch) -> None:
        gaps: list[tuple[Connection, Gap]] = []
        for conn, mn, cn, at in b.observed:
            for req in self._open.get(mn, ()):
                if req.covers(cn, at):
                    req.received.add(at)
            gap = self.received.observe(mn, cn, at)
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
    from warehouse.registry.config import load_registry

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
