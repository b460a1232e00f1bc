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
  Only then are the answers sent: 9014 for uploads whose Flag has A=1, 9013 for notices, 9011
  QnRtn=3 for a refused login (unknown MN, wrong password and locked alike), 9011 QnRtn=2 for a
  packet the reading contract refuses whole — when the packet asked for an answer. A crash
  before that leaves the logger without its answer, and it sends again; the copy collapses in
  the warehouse loader.
- It listens on 127.0.0.1 unless configured (settings `hj212_host`/`hj212_port`).
- Nothing in a packet can crash the server: any unexpected error becomes a dead letter.

The parts, wired together here:
- connections.py: accepting and reading connections, logins (keyed password hashes, failed
  logins limited per MN and per host, hosts throttled), binding a connection to its logger;
- per_packet.py: a record filed on arrival (parse, login, time window, split packets, then
  packet_outcome.py — the one per-packet path, shared with HJ 212 over MQTT);
- bulk/lane.py: plain data uploads of a logged-in connection, parsed together when their batch
  is written (`bulk.parse_batch`), the rest per packet: both lanes file a record the same way;
- writer.py: the durable batch writer (and backpressure when it is behind);
- commands.py: commands to connected loggers (clock, history) and the back-fill of gaps;
- service.py: running it as a daemon (`run_server`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from core.contract import ReadingContract
from core.installation_key import installation_key
from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.hj212.auth import LoginLimiter, LoginPolicy, PeerGuard, PeerPolicy
from ingest.hj212.bulk.lane import BulkLane
from ingest.hj212.commands import (
    DEFAULT_RESULT_TIMEOUT_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    CommandResult,
    LoggerCommands,
)
from ingest.hj212.connections import Connection, Connections
from ingest.hj212.per_packet import PerPacket
from ingest.hj212.protocol import DEFAULT_TZ, MAX_PACKET_BYTES
from ingest.hj212.writer import BatchWriter
from ingest.site_units import SiteUnits

log = logging.getLogger("envmon.hj212")

DEFAULT_PORT = 9212


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"  # loopback unless configured (settings hj212_host)
    port: int = DEFAULT_PORT
    max_packet_bytes: int = MAX_PACKET_BYTES  # a longer record (frame without CRLF) is refused
    idle_timeout_s: float = 600.0  # close a connection silent this long
    # connections the kernel completes while the loop is busy: a province's loggers reconnect
    # together after a platform restart; asyncio's default (100) left the rest half-open until
    # their handshake expired and the logger's data met a reset (capped by net.core.somaxconn)
    listen_backlog: int = 1024
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
    command_timeout_s: float = DEFAULT_TIMEOUT_S  # HJ 212-2017 Table 1: 10 s, 3 retries
    command_retries: int = DEFAULT_RETRIES
    command_result_timeout_s: float = DEFAULT_RESULT_TIMEOUT_S
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
        self.contract = config.contract or ReadingContract.from_settings()
        self.closing = False
        self._server: asyncio.Server | None = None
        self.connections = Connections(self, installation_key(Path(home)))
        self.per_packet = PerPacket(self)
        self.bulk = BulkLane(self)
        self.commands = LoggerCommands(self, self.state_dir)
        self.writer = BatchWriter(
            config,
            landing,
            self.stats,
            self.state_dir,
            prepare=self.bulk.resolve,
            after_durable=lambda b: self.commands.durable(b.observed),
        )
        self.set_registry(registry)

    @property
    def logins(self) -> LoginLimiter:
        return self.connections.logins

    @property
    def peers(self) -> PeerGuard:
        return self.connections.peers

    def set_registry(self, registry: Registry) -> None:
        """(Re)load the loggers: MN -> outlet site_id; their passwords as keyed hashes."""
        self.registry = registry
        self.units = SiteUnits(registry)
        self.connections.set_registry(registry)

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        """Listen; returns the bound (host, port) (port 0 picks a free one)."""
        self.writer.start()
        self._server = await asyncio.start_server(
            self.connections.handle,
            self.config.host,
            self.config.port,
            limit=self.config.max_packet_bytes * 2,
            backlog=self.config.listen_backlog,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        log.info("HJ 212 server listening on %s:%s, landing into %s", host, port, self.landing.root)
        return host, port

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking packets, make everything received durable, answer it, close."""
        if self._server is None or self.closing:
            return
        self.closing = self.writer.closing = True
        self._server.close()
        await self.connections.stop()
        await self.commands.stop(timeout_s)
        await self.writer.stop(timeout_s)
        await self.connections.close_all()
        await asyncio.to_thread(self.commands.received.save)
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
        await self.writer.durable(force)

    def on_record(self, conn: Connection, record: bytes, received_at: datetime) -> None:
        """A record of a connection: queued for the bulk lane, or filed per packet now."""
        b = self.writer.begin_record()
        if self.bulk.takes(conn, record):
            conn.auth_failures = 0
            b.fast.append((conn, record, received_at))
        else:
            self.per_packet.handle(conn, record, received_at)
        self.writer.check_full()

    # -- commands for operators and jobs --------------------------------------------------
    async def set_clock(self, mn: str, at: datetime | None = None) -> CommandResult:
        return await self.commands.set_clock(mn, at)

    async def read_clock(self, mn: str) -> CommandResult:
        return await self.commands.read_clock(mn)

    async def request_history(
        self, mn: str, cn: str, begin: datetime, end: datetime
    ) -> CommandResult:
        """Ask a connected logger to re-send its data of [begin, end]; returns once they are durable."""
        return await self.commands.request_history(mn, cn, begin, end)
