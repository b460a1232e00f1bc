"""ingest.hj212.writer: the HJ 212 server's batches are written durably, then answered."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from core.landing import DEAD_LETTERS, READINGS, LandingZone
from ingest.hj212.auth import MASK_NOTE
from ingest.hj212.readings import SOURCE_KIND
from ingest.hj212.server import ServerConfig, ServerStats
from ingest.hj212.writer import Batch, BatchWriter

AT = datetime(2026, 1, 1, 8, tzinfo=UTC)
ROW = {
    "site_id": "s1", "parameter": "so2", "period_start": AT, "interval_s": 3600,
    "source_kind": SOURCE_KIND, "value": 1.5, "unit": "mg/m3", "received_at": AT,
    "origin": "hj212:M1:1",
}  # fmt: skip


class FakeConn:
    """Where the answers of a batch go."""

    def __init__(self, alive: bool = True):
        self.alive = alive
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> bool:
        if self.alive:
            self.sent.append(data)
        return self.alive


class FlakyLanding(LandingZone):
    """A landing zone whose first readings write fails (a full disk, say)."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.failures = 1

    def write_readings(self, table, source_kind):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        return super().write_readings(table, source_kind)


def files(root: Path | str, kind: str) -> list[Path]:
    return sorted((Path(root) / kind).rglob("*.parquet"))


def test_a_dead_letter_never_keeps_a_password() -> None:
    b = Batch(1)
    b.dead_letter(
        "tcp://h:1/M1", b"QN=1;PW=secret;MN=M1;CP=&&&&", "wrong password", "bad_password", AT
    )
    b.dead_letter("tcp://h:1", b"no password here", "frame: bad", "frame", AT)
    assert b"secret" not in b.dead[0]["raw"] and b.dead[0]["reason"].endswith(MASK_NOTE)
    assert b.dead[1] == {"origin": "tcp://h:1", "reason": "frame: bad", "raw": b"no password here",
                         "received_at": AT}  # fmt: skip
    assert b.dead_kinds == {"bad_password": 1, "frame": 1}
    assert b.n_readings == 0
    b.rows.append(ROW)
    assert b.n_readings == 1


def run_writer(
    tmp_path: Path,
    landing: LandingZone,
    fill: Callable[[BatchWriter], Awaitable[None]],
    **config: Any,
) -> tuple[ServerStats, list[str]]:
    stats, calls = ServerStats(), []

    async def prepare(b: Batch) -> None:
        calls.append(f"prepare {b.seq}")

    def after(b: Batch) -> None:
        calls.append(f"durable {b.seq}: {len(b.replies)} answers")

    async def scenario() -> None:
        writer = BatchWriter(
            ServerConfig(**config), landing, stats, tmp_path / "hj212",
            prepare=prepare, after_durable=after,
        )  # fmt: skip
        writer.start()
        await fill(writer)
        writer.closing = True
        await writer.stop(5.0)

    asyncio.run(scenario())
    return stats, calls


def test_a_batch_is_written_then_answered(tmp_path: Path) -> None:
    landing = LandingZone(tmp_path / "landing")
    live, gone = FakeConn(), FakeConn(alive=False)

    async def fill(writer: BatchWriter) -> None:
        b = writer.begin_record()
        b.rows.append(dict(ROW))
        b.landed += 1
        b.replies += [(live, b"answer 1"), (gone, b"answer 2")]
        writer.begin_record().dead_letter("tcp://h:1", b"junk", "frame: junk", "frame", AT)
        writer.current.n_dead += 1
        writer.begin_record().events.append({"note": "heartbeat"})
        writer.current.n_events += 1
        assert live.sent == []  # nothing is answered before it is durable
        await writer.durable()
        assert live.sent == [b"answer 1"]
        await writer.durable()  # nothing new: returns at once

    stats, calls = run_writer(tmp_path, landing, fill, batch_wait_s=60.0)
    assert calls == ["prepare 1", "durable 1: 2 answers"]
    assert (stats.batches, stats.records, stats.packets_landed, stats.packets_dead) == (1, 3, 1, 1)
    assert (stats.packets_events, stats.readings, stats.dead_letters) == (1, 1, 1)
    assert (stats.replies, stats.replies_lost) == (1, 1)
    assert stats.accounted == stats.records
    readings = pq.read_table(files(landing.root, READINGS)[0]).to_pylist()
    assert [(r["site_id"], r["value"]) for r in readings] == [("s1", 1.5)]
    assert len(files(landing.root, DEAD_LETTERS)) == 1
    assert (tmp_path / "hj212" / "events").is_dir()


def test_a_full_batch_is_written_without_waiting_for_its_age(tmp_path: Path) -> None:
    landing = LandingZone(tmp_path / "landing")

    async def fill(writer: BatchWriter) -> None:
        for _ in range(3):
            writer.begin_record().rows.append(dict(ROW))
            writer.check_full()
        for _ in range(100):  # written at its size (3 records), long before its age (60 s)
            if writer.stats.batches:
                break
            await asyncio.sleep(0.05)
        assert writer.stats.batches == 1

    stats, _ = run_writer(tmp_path, landing, fill, batch_records=3, batch_wait_s=60.0)
    assert stats.readings == 3


def test_a_failed_write_is_retried_until_it_lands(tmp_path: Path) -> None:
    landing = FlakyLanding(tmp_path / "landing")

    async def fill(writer: BatchWriter) -> None:
        writer.begin_record().rows.append(dict(ROW))
        await writer.durable()

    stats, calls = run_writer(tmp_path, landing, fill, write_retry_max_s=0.5)
    assert stats.write_errors == 1 and stats.batches == 1 and stats.readings == 1
    assert len(files(landing.root, READINGS)) == 1
    assert calls == ["prepare 1", "durable 1: 0 answers"]
