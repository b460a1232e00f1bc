"""Landing zone atomicity and the warehouse loader: idempotent, deduplicating, conflict-recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from envmon.settings import get_settings
from ingest.landing import LandingZone, readings_table
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_landing_job

T0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)


def reading(hour: int, value: float | None, *, site: str = "dongsi", parameter: str = "pm25",
            flag: str | None = None, received: datetime | None = None) -> dict:
    return {
        "site_id": site, "parameter": parameter, "period_start": T0 + timedelta(hours=hour),
        "interval_s": 3600, "source_kind": "mqtt", "value": value, "unit": "ug/m3", "flag": flag,
        "received_at": received or T0 + timedelta(hours=hour, minutes=5), "origin": f"test:{hour}",
    }


def landing() -> LandingZone:
    return LandingZone(get_settings().landing_root)


def count(sql: str) -> int:
    with connect(write=False) as con:
        row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_batch_write_is_atomic_and_listed() -> None:
    zone = landing()
    ref = zone.write_readings(readings_table([reading(h, 10.0 + h) for h in range(5)]), "mqtt")
    assert zone.list_batches() == [ref.relpath]
    assert ref.relpath.startswith("readings/source=mqtt/date=")
    assert zone.read(ref.relpath).num_rows == 5
    assert not list(Path(zone.base).rglob(".tmp-*"))


def test_load_is_idempotent() -> None:
    init_warehouse()
    zone = landing()
    zone.write_readings(readings_table([reading(h, 10.0 + h) for h in range(24)]), "mqtt")
    first = load_landing_job()
    assert (len(first.loaded), first.rows_inserted) == (1, 24)
    with connect(write=False) as con:
        snapshot = con.execute("SELECT * EXCLUDE (batch_id) FROM readings ORDER BY period_start").fetchall()
    second = load_landing_job()
    assert (len(second.loaded), second.rows_inserted, second.already_loaded) == (0, 0, 1)
    with connect(write=False) as con:
        assert con.execute("SELECT * EXCLUDE (batch_id) FROM readings ORDER BY period_start").fetchall() == snapshot
    assert count("SELECT count(*) FROM load_ledger") == 1


def test_duplicates_collapse_within_and_across_batches() -> None:
    init_warehouse()
    zone = landing()
    rows = [reading(h, 10.0 + h) for h in range(10)]
    zone.write_readings(readings_table(rows + rows[:3]), "mqtt")  # redelivered inside one batch
    report = load_landing_job()
    assert (report.rows_inserted, report.rows_duplicate, report.rows_conflict) == (10, 3, 0)
    zone.write_readings(readings_table([*rows[5:], reading(10, 20.0)]), "mqtt")  # redelivered later
    report = load_landing_job()
    assert (report.rows_inserted, report.rows_duplicate, report.rows_conflict) == (1, 5, 0)
    assert count("SELECT count(*) FROM readings") == 11


def test_conflicting_duplicate_is_recorded_not_overwritten() -> None:
    init_warehouse()
    zone = landing()
    zone.write_readings(readings_table([reading(0, 35.0), reading(1, 40.0)]), "mqtt")
    load_landing_job()
    zone.write_readings(readings_table([reading(0, 99.0), reading(1, 40.0, flag="M")]), "mqtt")
    report = load_landing_job()
    assert (report.rows_inserted, report.rows_duplicate, report.rows_conflict) == (0, 0, 2)
    with connect(write=False) as con:
        held = con.execute("SELECT value, flag FROM readings ORDER BY period_start").fetchall()
        conflicts = con.execute(
            "SELECT kept_value, conflicting_value, conflicting_flag FROM reading_conflicts ORDER BY period_start"
        ).fetchall()
    assert held == [(35.0, None), (40.0, None)]
    assert conflicts == [(35.0, 99.0, None), (40.0, 40.0, "M")]


def test_conflict_inside_one_batch_keeps_the_first_received() -> None:
    init_warehouse()
    late = reading(0, 50.0, received=T0 + timedelta(hours=2))
    early = reading(0, 45.0, received=T0 + timedelta(hours=1))
    landing().write_readings(readings_table([late, early]), "mqtt")
    report = load_landing_job()
    assert (report.rows_inserted, report.rows_conflict) == (1, 1)
    assert count("SELECT value FROM readings") == 45


def test_sources_do_not_overwrite_each_other() -> None:
    init_warehouse()
    zone = landing()
    zone.write_readings(readings_table([reading(0, 35.0)]), "mqtt")
    file_row = reading(0, 36.0) | {"source_kind": "file"}
    zone.write_readings(readings_table([file_row]), "file")
    report = load_landing_job()
    assert (report.rows_inserted, report.rows_conflict) == (2, 0)


def test_corrupt_batch_is_quarantined_and_the_others_load() -> None:
    init_warehouse()
    zone = landing()
    good = zone.write_readings(readings_table([reading(h, 1.0) for h in range(3)]), "mqtt")
    bad = zone.write_readings(readings_table([reading(h, 2.0, site="tiantan") for h in range(3)]), "mqtt")
    path = Path(zone.full_path(bad.relpath))
    path.write_bytes(path.read_bytes()[:100])  # torn by a disk fault after the rename
    wrong = pa.table({"site_id": ["x"], "colour": ["red"]})
    wrong_path = Path(zone.base) / "readings/source=file/date=2026-05-01/20260501T000000000000Z-file-abc.parquet"
    wrong_path.parent.mkdir(parents=True)
    pq.write_table(wrong, wrong_path)

    report = load_landing_job()
    assert [b.relpath for b in report.loaded] == [good.relpath]
    reasons = dict(report.quarantined)
    assert set(reasons) == {bad.relpath, str(wrong_path.relative_to(zone.base))}
    assert "unreadable readings batch" in reasons[bad.relpath]
    assert "lacks required column(s): parameter" in reasons[str(wrong_path.relative_to(zone.base))]
    quarantined = get_settings().quarantine_dir / "landing" / bad.relpath
    assert quarantined.exists()
    assert "unreadable" in quarantined.with_name(quarantined.name + ".reason.txt").read_text()
    assert not path.exists()
    assert count("SELECT count(*) FROM quarantined_batches") == 2
    assert load_landing_job().quarantined == []  # a second run does not trip over them again


_SLOW_WRITER = r"""
import sys, pyarrow as pa, pyarrow.parquet as pq
from ingest import landing
real = pq.write_table
def slow(table, where, **kw):
    real(table, where, **kw)
    where.flush()
    print("written", flush=True)
    import time; time.sleep(60)        # killed here: after the bytes, before fsync and rename
landing.pq.write_table = slow
from datetime import datetime, timezone
rows = [{"site_id": "dongsi", "parameter": "pm25", "period_start": datetime(2026, 1, 1, tzinfo=timezone.utc),
         "interval_s": 3600, "source_kind": "mqtt", "value": 1.0, "unit": "ug/m3",
         "received_at": datetime(2026, 1, 1, tzinfo=timezone.utc)}]
landing.LandingZone(sys.argv[1]).write_readings(landing.readings_table(rows), "mqtt")
"""


def test_batch_killed_mid_write_is_never_loaded() -> None:
    init_warehouse()
    root = get_settings().landing_root
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, root], stdout=subprocess.PIPE, text=True,
                            env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(Path(root).rglob(".tmp-*")), "the torn temporary file is still there"
    assert LandingZone(root).list_batches() == []
    report = load_landing_job()
    assert (len(report.loaded), report.rows_inserted, report.quarantined) == (0, 0, [])
    assert count("SELECT count(*) FROM readings") == 0


def test_dead_letters_are_loaded_once_and_counted() -> None:
    init_warehouse()
    zone = landing()
    zone.write_dead_letters([{"origin": "envmon/v1/air/dongsi", "reason": "invalid JSON: line 1", "raw": b"{oops"}], "mqtt")
    report = load_landing_job()
    assert (report.dead_letters, report.dead_letter_batches) == (1, 1)
    assert load_landing_job().dead_letters == 0
    with connect(write=False) as con:
        row = con.execute("SELECT origin, reason, raw, status FROM dead_letters").fetchone()
    assert row == ("envmon/v1/air/dongsi", "invalid JSON: line 1", b"{oops", "waiting")


def test_file_url_root(tmp_path: Path) -> None:
    zone = LandingZone(f"file://{tmp_path}/lz")
    ref = zone.write_readings(readings_table([reading(0, 1.0)]), "mqtt")
    assert (tmp_path / "lz" / ref.relpath).exists()
    assert zone.list_batches() == [ref.relpath]


def test_large_load_spans_several_chunks() -> None:
    init_warehouse()
    zone = landing()
    for b in range(3):
        zone.write_readings(readings_table([reading(h, float(b)) for h in range(b * 100, b * 100 + 100)]), "mqtt")
    settings = get_settings()
    from warehouse.loader import load_landing
    with connect(settings) as con:
        report = load_landing(con, zone, settings.quarantine_dir, chunk_rows=150)
    assert report.rows_inserted == 300 and len(report.loaded) == 3
    assert count("SELECT count(*) FROM load_ledger") == 3
