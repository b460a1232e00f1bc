"""Landing-zone compaction and retention: merged batches are never loaded twice, a crash at any
step loses nothing and duplicates nothing, and only loaded batches are ever removed."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.landing import LOGGER_EVENTS, LandingZone, readings_table
from core.schema import LOGGER_EVENTS_SCHEMA
from core.settings import get_settings
from ingest.hj212.events import events_table
from warehouse import maintenance
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_landing_job
from warehouse.maintenance import COMPACT_PREFIX, run_maintenance

T0 = datetime(2026, 5, 1, tzinfo=UTC)
AS_OF = datetime(2026, 5, 10, 1, tzinfo=UTC)  # partitions before 2026-05-08 get compacted


def rows(n: int, offset: int) -> list[dict]:
    return [{"site_id": "dongsi", "parameter": "pm25", "period_start": T0 + timedelta(hours=offset + h),
             "interval_s": 3600, "source_kind": "mqtt", "value": float(offset + h), "unit": "ug/m3",
             "received_at": T0, "origin": "test"} for h in range(n)]


def write_old_batch(zone: LandingZone, n: int, offset: int, day: str = "2026-05-01") -> str:
    """A batch as if written on `day` (the partition is the UTC write date)."""
    ref = zone.write_readings(readings_table(rows(n, offset)), "mqtt")
    src = Path(zone.base) / ref.relpath
    dest_dir = Path(zone.base) / f"readings/source=mqtt/date={day}"
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dest_dir / src.name)
    return f"readings/source=mqtt/date={day}/{src.name}"


def scalar(sql: str) -> int:
    with connect(write=False) as con:
        return int(con.execute(sql).fetchall()[0][0])


@pytest.fixture
def zone() -> LandingZone:
    init_warehouse()
    return LandingZone(get_settings().landing_root)


def test_loaded_batches_are_merged_and_not_loaded_again(zone: LandingZone) -> None:
    for k in range(5):
        write_old_batch(zone, 10, 10 * k)
    assert load_landing_job().rows_inserted == 50
    report = run_maintenance(as_of=AS_OF)
    assert (report.partitions_compacted, report.batches_merged) == (1, 5)
    batches = zone.list_batches()
    assert len(batches) == 1 and batches[0].rsplit("/", 1)[1].startswith(COMPACT_PREFIX)
    assert zone.read(batches[0]).num_rows == 50
    again = load_landing_job()
    assert (len(again.loaded), again.rows_inserted) == (0, 0)
    assert scalar("SELECT count(*) FROM readings") == 50
    # a second night merges nothing more
    assert run_maintenance(as_of=AS_OF).partitions_compacted == 0


def test_recent_and_unloaded_batches_are_left_alone(zone: LandingZone) -> None:
    write_old_batch(zone, 3, 0)
    write_old_batch(zone, 3, 3)
    recent = [write_old_batch(zone, 3, 9 + 3 * k, day="2026-05-09") for k in range(2)]
    load_landing_job()
    unloaded = write_old_batch(zone, 3, 6)  # landed after the load: not in the ledger
    report = run_maintenance(as_of=AS_OF)
    assert report.batches_merged == 2
    listed = zone.list_batches()
    assert unloaded in listed and all(r in listed for r in recent)
    assert load_landing_job().rows_inserted == 3  # the unloaded batch still loads
    assert scalar("SELECT count(*) FROM readings") == 15


def test_crash_after_the_ledger_entry_leaves_originals_that_are_then_removed(
    zone: LandingZone, monkeypatch: pytest.MonkeyPatch
) -> None:
    originals = [write_old_batch(zone, 4, 4 * k) for k in range(3)]
    load_landing_job()

    def crash(self: LandingZone, relpath: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(LandingZone, "remove", crash)
    with pytest.raises(OSError, match="power cut"):
        run_maintenance(as_of=AS_OF)
    monkeypatch.undo()
    assert all(r in zone.list_batches() for r in originals)  # nothing removed yet
    report = run_maintenance(as_of=AS_OF)
    assert report.batches_removed_after_crash == 3
    batches = zone.list_batches()
    assert len(batches) == 1 and zone.read(batches[0]).num_rows == 12
    meta = pq.read_schema(zone.full_path(batches[0])).metadata
    assert len(json.loads(meta[maintenance.MERGED_KEY])) == 3
    assert load_landing_job().rows_inserted == 0
    assert scalar("SELECT count(*) FROM readings") == 12


def test_retention_removes_only_loaded_partitions_older_than_the_limit(
    zone: LandingZone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVMON_LANDING_RETENTION_DAYS", "5")
    from core.settings import reset_settings_cache

    reset_settings_cache()
    write_old_batch(zone, 2, 0, day="2026-04-01")
    load_landing_job()
    kept = write_old_batch(zone, 2, 2, day="2026-04-02")  # old but never loaded
    report = run_maintenance(as_of=AS_OF)
    assert report.partitions_expired == ["readings/source=mqtt/date=2026-04-01"]
    assert zone.list_batches() == [kept]
    assert scalar("SELECT count(*) FROM readings") == 2  # the warehouse keeps the readings


# -- review finding I12: logger-event batches (HJ 212 CN 2021/2072) are compacted and expired too ---


def event_rows(n: int, offset: int) -> list[dict]:
    return [{"site_id": "dongsi", "mn": "MN0001", "cn": "2021", "event_time": T0 + timedelta(minutes=offset + m),
             "kind": "run_status", "code": "SB1", "status_code": 1, "alarm_type": None, "received_at": T0,
             "origin": "test", "extra": "{}"} for m in range(n)]  # fmt: skip


def write_old_events(zone: LandingZone, table: pa.Table, day: str = "2026-05-01") -> str:
    """A logger-event batch as if written on `day`; the table is written as it is (an older writer's
    batch may lack a nullable column), the way write_logger_events lands it otherwise."""
    ref = zone.write_logger_events(events_table(event_rows(1, 0)), "hj212")
    src = Path(zone.base) / ref.relpath
    dest = Path(zone.base) / f"{LOGGER_EVENTS}/source=hj212/date={day}" / src.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dest)
    src.unlink()
    return f"{LOGGER_EVENTS}/source=hj212/date={day}/{src.name}"


def test_logger_event_batches_are_merged_keeping_their_schema_and_not_loaded_again(zone: LandingZone) -> None:
    originals = [write_old_events(zone, events_table(event_rows(4, 4 * k))) for k in range(3)]
    older = events_table(event_rows(4, 12)).drop_columns(["extra", "alarm_type"])  # an older writer's batch
    originals.append(write_old_events(zone, older))
    first = load_landing_job()
    assert first.logger_events == (16, 16)
    report = run_maintenance(as_of=AS_OF)
    assert (report.partitions_compacted, report.batches_merged) == (1, 4)
    (merged,) = zone.list_batches(LOGGER_EVENTS)
    assert merged.rsplit("/", 1)[1].startswith(COMPACT_PREFIX) and not set(originals) & {merged}
    table = zone.read(merged)
    assert table.schema.remove_metadata() == LOGGER_EVENTS_SCHEMA.remove_metadata()
    assert table.num_rows == 16 and table.column("extra").null_count == 4
    meta = pq.read_schema(zone.full_path(merged)).metadata
    assert sorted(json.loads(meta[maintenance.MERGED_KEY])) == sorted(r.rsplit("/", 1)[1][:-8] for r in originals)
    with connect(write=False) as con:
        kind, rows_in = con.execute(
            "SELECT kind, rows_in FROM load_ledger WHERE relpath = ?", [merged]
        ).fetchall()[0]
    assert (kind, rows_in) == (LOGGER_EVENTS, 16)  # the merged batch counts as loaded
    again = load_landing_job()
    assert again.logger_events == (0, 0)
    assert scalar("SELECT count(*) FROM logger_events") == 16
    assert run_maintenance(as_of=AS_OF).partitions_compacted == 0  # nothing more to merge


def test_recent_or_unloaded_logger_event_batches_are_not_merged(zone: LandingZone) -> None:
    loaded = [write_old_events(zone, events_table(event_rows(2, 2 * k))) for k in range(2)]
    recent = [write_old_events(zone, events_table(event_rows(2, 10 + 2 * k)), day="2026-05-09") for k in range(2)]
    load_landing_job()
    unloaded = write_old_events(zone, events_table(event_rows(2, 20)))  # not in the ledger
    report = run_maintenance(as_of=AS_OF)
    assert report.batches_merged == 2
    listed = zone.list_batches(LOGGER_EVENTS)
    assert unloaded in listed and all(r in listed for r in recent) and not any(r in listed for r in loaded)
    assert load_landing_job().logger_events == (2, 2)  # the unloaded batch still loads
    assert scalar("SELECT count(*) FROM logger_events") == 10


def test_logger_events_merged_file_without_its_ledger_entry_loads_as_duplicates(
    zone: LandingZone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing the merged file and recording it: the next load collapses it entirely."""
    originals = [write_old_events(zone, events_table(event_rows(3, 3 * k))) for k in range(2)]
    load_landing_job()

    def crash(_con):  # type: ignore[no-untyped-def]
        raise OSError("power cut")

    monkeypatch.setattr(maintenance, "transaction", crash)
    with pytest.raises(OSError, match="power cut"):
        run_maintenance(as_of=AS_OF)
    monkeypatch.undo()
    assert load_landing_job().logger_events == (6, 0)  # the unrecorded merged file: all duplicates
    report = run_maintenance(as_of=AS_OF)
    assert report.batches_removed_after_crash == 2
    listed = zone.list_batches(LOGGER_EVENTS)
    assert len(listed) == 1 and not any(r in listed for r in originals)
    assert scalar("SELECT count(*) FROM logger_events") == 6


def test_retention_expires_loaded_logger_event_partitions_only(
    zone: LandingZone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVMON_LANDING_RETENTION_DAYS", "5")
    from core.settings import reset_settings_cache

    reset_settings_cache()
    write_old_events(zone, events_table(event_rows(2, 0)), day="2026-04-01")
    young = write_old_events(zone, events_table(event_rows(2, 2)), day="2026-05-06")  # inside the 5 days
    load_landing_job()
    kept = write_old_events(zone, events_table(event_rows(2, 4)), day="2026-04-02")  # old but never loaded
    report = run_maintenance(as_of=AS_OF)
    assert report.partitions_expired == [f"{LOGGER_EVENTS}/source=hj212/date=2026-04-01"]
    assert sorted(zone.list_batches(LOGGER_EVENTS)) == sorted([kept, young])
    assert scalar("SELECT count(*) FROM logger_events") == 4  # the warehouse keeps the events
