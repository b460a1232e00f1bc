"""The HJ 212 server's durable batch writer: records of all connections become one landing write.

Whatever a record gives (readings, logger events, dead letters, event-log entries, the answer
owed) goes into the current `Batch`. A batch is written when it holds `batch_readings` readings
or `batch_records` records, when its first record is `batch_wait_s` old, or when someone waits
for it (`durable()`): readings, logger events and dead letters as landing batches (fsynced,
atomic), the event-log entries appended, a failed write retried until it succeeds. Only then are
the answers sent. While a batch is being written and the next one is full, reading from the
connections waits (`wait_for_room`): memory stays bounded when the disk is slow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from core.landing import LandingZone, readings_table
from ingest.hj212.auth import MASK_NOTE, mask_passwords
from ingest.hj212.events import append_event_log, events_table
from ingest.hj212.readings import SOURCE_KIND

if TYPE_CHECKING:
    from ingest.hj212.connections import Connection
    from ingest.hj212.server import ServerConfig, ServerStats

log = logging.getLogger("envmon.hj212")


class Batch:
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
        self.events: list[dict] = []  # the event log's entries
        self.logger_events: list[dict] = []  # CN 2021 running status, CN 2072 alarms
        self.replies: list[tuple[Connection, bytes]] = []
        # conn, MN, CN, period start of the data packets that landed (the back-fill's gap check)
        self.observed: list[tuple[Connection, str, str, datetime]] = []
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

    def dead_letter(
        self, origin: str, raw: bytes, reason: str, kind: str, received_at: datetime
    ) -> None:
        """One dead-letter row; every password in it, right or wrong, masked (auth.py)."""
        raw, masked = mask_passwords(raw)
        if masked:
            reason = f"{reason} {MASK_NOTE}"
        self.dead.append(
            {"origin": origin, "reason": reason, "raw": raw, "received_at": received_at}
        )
        self.dead_kinds[kind] += 1


class BatchWriter:
    """The current batch, its writing in the background, and who waits for it to be durable."""

    def __init__(
        self,
        config: ServerConfig,
        landing: LandingZone,
        stats: ServerStats,
        state_dir: Path,
        *,
        prepare: Callable[[Batch], Awaitable[None]],
        after_durable: Callable[[Batch], None],
    ):
        self.config = config
        self.landing = landing
        self.stats = stats
        self.state_dir = state_dir
        self.prepare = prepare  # before a batch is written (the bulk lane files its records)
        self.after_durable = after_durable  # once it is written and answered (back-fill)
        self.current = Batch(1)
        self.closing = False
        self._committed_seq = 0
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._force = False
        self._committing = False
        self._abort_writes = False
        self._flusher: asyncio.Task | None = None
        self._wake = asyncio.Event()  # a batch to write, or someone waiting
        self._room = asyncio.Event()  # cleared while the next batch is full and one is written
        self._room.set()

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="hj212-flusher")

    async def stop(self, timeout_s: float) -> None:
        """Write what is left (the caller has set `closing`); give up on a failing disk after
        `timeout_s`: the loggers send again what was not answered."""
        self._wake.set()
        if self._flusher is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._flusher), timeout_s)
        except TimeoutError:
            self._abort_writes = True
            log.error(
                "landing writes still failing at shutdown: unanswered packets will be resent by the loggers"
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flusher, 10)

    async def wait_for_room(self) -> None:
        """Backpressure: returns once the landing writer is not behind."""
        if not self._room.is_set():
            await self._room.wait()

    async def durable(self, force: bool = True) -> None:
        """Wait until everything received so far is durable (and answered); `force=False`
        waits for the batch to be written at its usual time (size or age) instead of now."""
        seq = self.current.seq if self.current.records else self.current.seq - 1
        if seq <= self._committed_seq:
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, fut))
        if force:
            self._force = True
            self._wake.set()
        await fut

    def begin_record(self) -> Batch:
        """The batch a new record goes into (counted there)."""
        b = self.current
        if b.records == 0:
            b.first_at = time.monotonic()
            self._wake.set()
        b.records += 1
        return b

    def check_full(self) -> None:
        b = self.current
        if b.n_readings >= self.config.batch_readings or b.records >= self.config.batch_records:
            self._wake.set()
            if self._committing:
                self._room.clear()

    @contextlib.contextmanager
    def filing_into(self, b: Batch) -> Iterator[None]:
        """Records handled in this block go into batch `b` (the bulk lane's, being written)."""
        current, self.current = self.current, b
        try:
            yield
        finally:
            self.current = current

    async def _flush_loop(self) -> None:
        wait_s = self.config.batch_wait_s
        while True:
            b = self.current
            if b.records == 0:
                if self.closing:
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
            if not (full or self._force or self.closing or age >= wait_s):
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s - age)
                continue
            self.current = Batch(b.seq + 1)
            self._force = False
            self._committing = True
            self._room.set()
            try:
                await self.prepare(b)
                await self._commit(b)
            finally:
                self._committing = False
        self._release(self.current.seq)

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

    async def _commit(self, b: Batch) -> None:
        ok = await asyncio.to_thread(self.write_durably, b)
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
        self.after_durable(b)
        self._release(b.seq)

    def write_durably(self, b: Batch) -> bool:
        """Readings, dead letters and events of one batch, retried until written; False when
        the writes were given up at shutdown."""
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
            steps.append(lambda: append_event_log(self.state_dir, b.events))
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
