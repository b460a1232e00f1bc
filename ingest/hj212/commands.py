"""Commands to connected data loggers, and matching their answers to them.

A platform request (HJ 212-2017 section 6, Appendix C) runs: platform sends the request with
Flag A=1 -> logger answers 9011 (QnRtn, Table 7) -> for an accepted request the logger does
the work (uploads data packets carrying the request's QN, e.g. 1011 SystemTime or the 2051
history) -> logger answers 9012 (ExeRtn, Table 6). All answers echo the request's QN, which is
how `CommandChannel` matches them. A request not answered with 9011 within `timeout_s` is sent
again, up to `retries` times (Table 1 default: 10 s, 3 retries).

`LoggerCommands` is what the TCP server asks of its loggers, one command at a time per logger:
the operators' and jobs' clock and history requests (`set_clock`, `read_clock`,
`request_history` of a connected MN), reading each logger's clock on login and setting it when
it drifts (`sync_clocks`), and the back-fill of gaps in what a logger sent (backfill.py: once
its data are durable, a jump over missing periods is asked for again, and journalled).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.hj212 import builders
from ingest.hj212.backfill import Gap, Journal, OpenRequest, ReceivedState
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import DEFAULT_TZ, parse_time

if TYPE_CHECKING:
    from ingest.hj212.connections import Connection
    from ingest.hj212.server import Hj212Server

log = logging.getLogger("envmon.hj212")

DATA_CNS = frozenset({builders.CN_REALTIME, builders.CN_MINUTE, builders.CN_HOUR, builders.CN_DAY})
DEFAULT_TIMEOUT_S = 10.0  # HJ 212-2017 Table 1 default for wireless links
DEFAULT_RETRIES = 3
DEFAULT_RESULT_TIMEOUT_S = 120.0  # a history upload can take a while on a slow link


@dataclass
class CommandResult:
    """The outcome of one request: answers received, or why there are none."""

    cn: str
    qn: str
    mn: str
    qn_rtn: int | None = None  # 9011 QnRtn (1 = ready to execute)
    exe_rtn: int | None = None  # 9012 ExeRtn (1 = success, 100 = no data)
    uploads: list[Packet] = field(default_factory=list)  # packets the logger sent for this QN
    error: str | None = None  # "timeout waiting for 9011" / "disconnected" ...
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and self.qn_rtn == builders.QN_READY
            and self.exe_rtn == builders.EXE_SUCCESS
        )

    @property
    def outcome(self) -> str:
        """One word for journals and logs."""
        if self.error:
            return "timeout" if "timeout" in self.error else "failed"
        if self.qn_rtn != builders.QN_READY:
            return "refused"
        if self.exe_rtn == builders.EXE_SUCCESS:
            return "success"
        if self.exe_rtn == builders.EXE_NO_DATA:
            return "no_data"
        return "failed"

    def system_time(self, tz: tzinfo = DEFAULT_TZ) -> datetime | None:
        """SystemTime of a 1011 clock reading, when the logger sent one."""
        for p in self.uploads:
            text = p.get("SystemTime")
            if text:
                try:
                    return parse_time(text, tz)
                except ValueError:
                    return None
        return None


@dataclass
class _Pending:
    result: CommandResult
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # 9011 arrived
    done: asyncio.Event = field(default_factory=asyncio.Event)  # 9012 arrived (or gave up)


class CommandChannel:
    """Requests to one logger connection and the answers that come back on it."""

    def __init__(
        self,
        send: Callable[[bytes], None],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        result_timeout_s: float = DEFAULT_RESULT_TIMEOUT_S,
    ) -> None:
        self._send = send
        self.timeout_s = timeout_s
        self.retries = retries
        self.result_timeout_s = result_timeout_s
        self._pending: dict[str, _Pending] = {}

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def new_qn(self, tz: tzinfo = DEFAULT_TZ) -> str:
        """A QN (local time with ms) not used by an open request on this channel."""
        qn = builders.new_qn(tz=tz)
        while qn in self._pending:
            qn = f"{int(qn) + 1:017d}"
        return qn

    def on_packet(self, packet: Packet) -> bool:
        """Feed every packet from the logger; True when it was an answer (9011/9012/1011...)
        consumed here. Data uploads carrying a pending QN are noted but not consumed: their
        readings still go to the landing zone."""
        pending = self._pending.get(packet.qn or "")
        if pending is None:
            return False
        if packet.cn == builders.CN_REQUEST_ANSWER:
            pending.result.qn_rtn = _int(packet.get("QnRtn"))
            pending.answered.set()
            if pending.result.qn_rtn != builders.QN_READY:
                pending.done.set()
            return True
        if packet.cn == builders.CN_EXECUTION_RESULT:
            pending.result.exe_rtn = _int(packet.get("ExeRtn"))
            pending.answered.set()  # a logger that skips 9011 still gets its result recorded
            if pending.result.qn_rtn is None:
                pending.result.qn_rtn = builders.QN_READY
            pending.done.set()
            return True
        pending.result.uploads.append(packet)
        return packet.cn not in DATA_CNS

    def close(self, reason: str = "disconnected") -> None:
        """The connection is gone: every open request ends with `reason`."""
        for pending in self._pending.values():
            if pending.result.error is None and not pending.done.is_set():
                pending.result.error = reason
            pending.answered.set()
            pending.done.set()

    async def request(
        self, raw: bytes, *, cn: str, qn: str, mn: str, wants_result: bool = True
    ) -> CommandResult:
        """Send a request and wait for its 9011 (with retries) and, if wanted, its 9012."""
        pending = _Pending(CommandResult(cn=cn, qn=qn, mn=mn))
        self._pending[qn] = pending
        try:
            for attempt in range(1, self.retries + 2):
                pending.result.attempts = attempt
                if pending.result.error is not None:
                    return pending.result
                self._send(raw)
                try:
                    await asyncio.wait_for(pending.answered.wait(), self.timeout_s)
                    break
                except TimeoutError:
                    continue
            else:
                pending.result.error = f"timeout: no 9011 after {pending.result.attempts} attempt(s) of {self.timeout_s:g} s"
                return pending.result
            if wants_result and pending.result.error is None and not pending.done.is_set():
                try:
                    await asyncio.wait_for(pending.done.wait(), self.result_timeout_s)
                except TimeoutError:
                    pending.result.error = f"timeout: no 9012 within {self.result_timeout_s:g} s"
            return pending.result
        finally:
            del self._pending[qn]


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# --- the commands, given a connection's identity ------------------------------------------------


@dataclass(frozen=True)
class LoggerAddress:
    """What a command needs to name its logger: MN, password and system code."""

    mn: str
    pw: str
    st: str


async def set_clock(
    channel: CommandChannel,
    to: LoggerAddress,
    at: datetime,
    tz: tzinfo = DEFAULT_TZ,
    qn: str | None = None,
) -> CommandResult:
    """1012: set the logger's clock to `at`."""
    qn = qn or channel.new_qn(tz)
    raw = builders.set_clock(to.mn, to.pw, to.st, at, tz, qn=qn)
    return await channel.request(raw, cn=builders.CN_SET_TIME, qn=qn, mn=to.mn)


async def read_clock(
    channel: CommandChannel, to: LoggerAddress, tz: tzinfo = DEFAULT_TZ, qn: str | None = None
) -> CommandResult:
    """1011: read the logger's clock (`result.system_time()`)."""
    qn = qn or channel.new_qn(tz)
    raw = builders.read_clock(to.mn, to.pw, to.st, qn=qn)
    return await channel.request(raw, cn=builders.CN_GET_TIME, qn=qn, mn=to.mn)


async def request_history(
    channel: CommandChannel,
    to: LoggerAddress,
    cn: str,
    begin: datetime,
    end: datetime,
    tz: tzinfo = DEFAULT_TZ,
    qn: str | None = None,
) -> CommandResult:
    """2051/2061/2031: ask the logger to send its minute/hourly/daily data of [begin, end] again."""
    qn = qn or channel.new_qn(tz)
    raw = builders.request_history(cn, to.mn, to.pw, to.st, begin, end, tz, qn=qn)
    return await channel.request(raw, cn=cn, qn=qn, mn=to.mn)


# --- the logger's minute-data interval (HJ 212-2017 Table 9: CN 1063 get, CN 1064 set) ----------

CN_GET_MINUTE_INTERVAL = "1063"
CN_SET_MINUTE_INTERVAL = "1064"


def minute_interval_of(result: CommandResult) -> int | None:
    """The minute interval in seconds a 1063 reading returned (`MinInterval`, in minutes)."""
    for p in result.uploads:
        text = p.get("MinInterval")
        if text is not None:
            try:
                return int(text) * 60
            except ValueError:
                return None
    return None


async def read_minute_interval(
    channel: CommandChannel, to: LoggerAddress, tz: tzinfo = DEFAULT_TZ, qn: str | None = None
) -> CommandResult:
    """1063: ask the logger for its minute-data interval (`minute_interval_of(result)`)."""
    qn = qn or channel.new_qn(tz)
    raw = builders.command(CN_GET_MINUTE_INTERVAL, to.mn, to.pw, to.st, qn=qn, tz=tz)
    return await channel.request(raw, cn=CN_GET_MINUTE_INTERVAL, qn=qn, mn=to.mn)


async def set_minute_interval(
    channel: CommandChannel,
    to: LoggerAddress,
    seconds: int,
    tz: tzinfo = DEFAULT_TZ,
    qn: str | None = None,
) -> CommandResult:
    """1064: set the logger's minute-data interval (sent as MinInterval in minutes); only the
    intervals HJ 212-2017 allows (core/registry/minute_intervals.csv)."""
    from core.registry.logger_facts import allowed_minute_intervals

    choices = allowed_minute_intervals()
    if seconds not in choices:
        raise ValueError(
            f"minute interval {seconds} s is not one HJ 212-2017 CN 1064 allows; "
            f"valid choices: {', '.join(map(str, choices))}"
        )
    qn = qn or channel.new_qn(tz)
    raw = builders.command(
        CN_SET_MINUTE_INTERVAL,
        to.mn,
        to.pw,
        to.st,
        [("MinInterval", str(seconds // 60))],
        qn=qn,
        tz=tz,
    )
    return await channel.request(raw, cn=CN_SET_MINUTE_INTERVAL, qn=qn, mn=to.mn)


# --- what the server asks of its loggers --------------------------------------------------------


class LoggerCommands:
    """The TCP server's commands to its connected loggers: operators' requests, clock sync on
    login, and the back-fill of gaps seen in what is durable."""

    def __init__(self, server: Hj212Server, state_dir: Path):
        self.server = server
        self.config = server.config
        self.tz = server.tz
        self.received = ReceivedState(
            state_dir / "received.json", timedelta(seconds=server.config.backfill_max_span_s)
        )
        if self.received.load_error:
            log.warning("%s", self.received.load_error)
        self.journal = Journal(state_dir / "backfill.jsonl")
        self.open: dict[str, list[OpenRequest]] = {}  # MN -> its history requests in flight
        self.tasks: set[asyncio.Task] = set()  # back-fill and clock tasks

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self, timeout_s: float) -> None:
        """Wait for the commands under way (their connections are closing), then save what
        was received."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout_s)

    def logged_in(self, conn: Connection) -> None:
        """A logger's first login on this connection: read its clock when asked to."""
        if self.config.sync_clocks and not self.server.closing:
            self.spawn(self.sync_clock(conn))

    # -- back-fill ------------------------------------------------------------------------
    def durable(self, observed: list[tuple[Connection, str, str, datetime]]) -> None:
        """Data packets of these loggers are durable: count them for the open requests, note
        what was received, and ask for the gaps they reveal."""
        gaps: list[tuple[Connection, Gap]] = []
        for conn, mn, cn, at in observed:
            for req in self.open.get(mn, ()):
                if req.covers(cn, at):
                    req.received.add(at)
            facts = self.server.registry.logger_facts(mn)
            gap = self.received.observe(
                mn, cn, at, minute_interval_s=facts.minute_interval_s if facts else None
            )
            if gap is not None:
                gaps.append((conn, gap))
        if observed:
            self.spawn(asyncio.to_thread(self.received.save))
        if not self.config.backfill or self.server.closing:
            return
        for conn, gap in gaps:
            if not conn.closed and conn.mn == gap.mn:
                self.spawn(self.backfill(conn, gap))

    async def backfill(self, conn: Connection, gap: Gap) -> None:
        """Ask the logger for the periods of `gap`; journal the request and its outcome."""
        req = OpenRequest(gap)
        self.open.setdefault(gap.mn, []).append(req)
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
                result = await request_history(
                    conn.channel, conn.address, gap.cn, gap.begin, gap.end, self.tz, qn
                )
                if result.qn_rtn == builders.QN_READY:
                    await self.server.writer.durable()  # the re-sent data are counted once durable
        finally:
            self.open[gap.mn].remove(req)
            if not self.open[gap.mn]:
                del self.open[gap.mn]
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

    async def sync_clock(self, conn: Connection) -> None:
        """Read the logger's clock; set it when it is off by more than `max_clock_drift_s`."""
        async with conn.command_lock:
            reading = await read_clock(conn.channel, conn.address, self.tz)
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
                    setting = await set_clock(
                        conn.channel, conn.address, datetime.now(self.tz), self.tz
                    )
                    entry["set_outcome"] = setting.outcome
            await asyncio.to_thread(self.journal.write, "clock", **entry)

    # -- for operators and jobs -----------------------------------------------------------
    async def set_clock(self, mn: str, at: datetime | None = None) -> CommandResult:
        conn = self.server.connections.live(mn)
        async with conn.command_lock:
            return await set_clock(conn.channel, conn.address, at or datetime.now(self.tz), self.tz)

    async def read_clock(self, mn: str) -> CommandResult:
        conn = self.server.connections.live(mn)
        async with conn.command_lock:
            return await read_clock(conn.channel, conn.address, self.tz)

    async def request_history(
        self, mn: str, cn: str, begin: datetime, end: datetime
    ) -> CommandResult:
        """Ask a connected logger to re-send its data of [begin, end]; returns once they are durable."""
        conn = self.server.connections.live(mn)
        async with conn.command_lock:
            result = await request_history(conn.channel, conn.address, cn, begin, end, self.tz)
        if result.qn_rtn == builders.QN_READY:
            await self.server.writer.durable()
        return result
