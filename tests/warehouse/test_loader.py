"""Landing zone atomicity and the warehouse loader: idempotent, deduplicating, conflict-recording."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.landing import LandingZone, readings_table
from core.settings import get_settings
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
from core import landing
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


# -- issue #18 item 1 / 12: a batch the loader cannot load is isolated -----------------------------

POISON_PAYLOAD = 188_000  # bytes of raw per dead letter, as the 188 KB MQTT message of issue #18


def _low_memory(monkeypatch, limit: str = "32MB") -> None:  # type: ignore[no-untyped-def]
    from core.settings import reset_settings_cache

    monkeypatch.setenv("ENVMON_DUCKDB_MEMORY_LIMIT", limit)
    reset_settings_cache()


def _poison_dead_letters(zone: LandingZone, rows: int = 400) -> str:
    """One dead-letter batch whose raw payloads do not fit DuckDB's memory limit (32 MB) at once."""
    payload = os.urandom(POISON_PAYLOAD // 2).hex().encode()  # incompressible, like real JSON noise
    letters = [{"origin": "envmon/v1/air/dongsi", "reason": "unknown parameter", "raw": payload}] * rows
    return zone.write_dead_letters(letters, "mqtt").relpath


def test_poison_dead_letter_batch_is_quarantined_and_a_later_reading_loads(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    init_warehouse()
    _low_memory(monkeypatch)
    zone = landing()
    poison = _poison_dead_letters(zone)
    zone.write_readings(readings_table([reading(0, 41.0)]), "mqtt")  # published after the poison
    report = load_landing_job()
    assert report.rows_inserted == 1
    assert [r for r, _ in report.quarantined] == [poison]
    reason = report.quarantined[0][1]
    assert "out of memory" in reason and "ENVMON_DUCKDB_MEMORY_LIMIT" in reason
    # moved, not copied: gone from the landing zone, in quarantine with its reason beside it
    assert poison not in zone.list_batches("deadletters")
    target = get_settings().quarantine_dir / "landing" / poison
    assert target.is_file() and "out of memory" in target.with_name(target.name + ".reason.txt").read_text()
    # a later load is not blocked: the next reading lands, the poison is not retried
    zone.write_readings(readings_table([reading(1, 42.0)]), "mqtt")
    again = load_landing_job()
    assert (again.rows_inserted, again.quarantined) == (1, [])
    assert count("SELECT count(*) FROM readings") == 2
    assert count("SELECT count(*) FROM quarantined_batches") == 1
    assert count("SELECT count(*) FROM dead_letters") == 0  # the failed batch's transaction rolled back


def test_dead_letter_memory_budget_both_sides(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """100 x 188 KB = 18.8 MB of raw: over 1/16 of 256MB (16 MB) refused, under 1/16 of 320MB (20 MB) loaded."""
    init_warehouse()
    zone = landing()
    over = _poison_dead_letters(zone, rows=100)
    _low_memory(monkeypatch, "256MB")
    report = load_landing_job()
    assert [r for r, _ in report.quarantined] == [over] and report.dead_letters == 0
    assert "18,800,000 bytes of raw payloads" in report.quarantined[0][1]
    _poison_dead_letters(zone, rows=100)
    _low_memory(monkeypatch, "320MB")
    report = load_landing_job()
    assert (report.dead_letters, report.quarantined) == (100, [])


def test_same_dead_letters_load_when_memory_allows() -> None:
    """The other side of the boundary: with the default memory limit the same batch loads."""
    init_warehouse()
    zone = landing()
    _poison_dead_letters(zone, rows=100)
    report = load_landing_job()
    assert (report.dead_letters, report.quarantined) == (100, [])
    assert count("SELECT count(*) FROM dead_letters") == 100


def test_readings_chunk_failing_in_duckdb_quarantines_only_the_culprit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    init_warehouse()
    zone = landing()
    good1 = zone.write_readings(readings_table([reading(h, 1.0) for h in range(3)]), "mqtt").relpath
    fat = [dict(reading(h, 2.0, site="nongzhanguan")) for h in range(400)]
    blob = os.urandom(POISON_PAYLOAD // 2).hex()
    table = readings_table(fat)
    table = table.set_column(table.schema.get_field_index("extra"), "extra", pa.array([blob] * 400, pa.string()))
    bad = zone.write_readings(table, "mqtt").relpath
    good2 = zone.write_readings(readings_table([reading(h, 3.0, site="guanyuan") for h in range(3)]), "mqtt").relpath
    _low_memory(monkeypatch)
    report = load_landing_job()  # the three batches form one chunk; DuckDB fails on it
    assert sorted(b.relpath for b in report.loaded) == sorted([good1, good2]), report.quarantined
    assert [r for r, _ in report.quarantined] == [bad]
    assert "out of memory" in report.quarantined[0][1]
    assert count("SELECT count(*) FROM readings") == 6


def test_load_removes_only_stale_tmp_files() -> None:
    init_warehouse()
    zone = landing()
    zone.write_readings(readings_table([reading(0, 1.0)]), "mqtt")
    folder = Path(zone.base) / "readings" / "source=mqtt" / "date=2026-05-01"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".tmp-crashed.parquet", folder / ".tmp-writing-now.parquet"
    stale.write_bytes(b"PAR1 half")
    fresh.write_bytes(b"PAR1 half")
    limit = get_settings().landing_tmp_max_age_s
    old = time.time() - limit - 5
    os.utime(stale, (old, old))
    young = time.time() - limit + 30  # just inside the safe age: may still be written
    os.utime(fresh, (young, young))
    report = load_landing_job()
    assert report.tmp_removed == ["readings/source=mqtt/date=2026-05-01/.tmp-crashed.parquet"]
    assert not stale.exists() and fresh.exists()
    assert report.rows_inserted == 1


def test_envmon_load_reports_the_poison_batch_without_traceback(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    init_warehouse()
    zone = landing()
    poison = _poison_dead_letters(zone)
    zone.write_readings(readings_table([reading(0, 41.0)]), "mqtt")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "envmon", "load"], capture_output=True, text=True, timeout=300,
                          env=os.environ | {"ENVMON_DUCKDB_MEMORY_LIMIT": "32MB", "PYTHONPATH": str(repo),
                                            "COLUMNS": "400"})
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Traceback" not in out
    assert "1 readings inserted" in out and "1 batches quarantined" in out
    assert f"quarantined {poison}" in out and "ENVMON_DUCKDB_MEMORY_LIMIT" in out


def test_full_disk_stops_the_load_naming_the_batch_and_quarantines_nothing() -> None:
    """A full disk is not the batch's fault: LoadError (an EnvmonError, shown without traceback)."""
    import errno

    import pytest

    from core.errors import EnvmonError
    from warehouse.loader import LoadError, LoadReport, fail_batch

    init_warehouse()
    zone = landing()
    relpath = zone.write_readings(readings_table([reading(0, 1.0)]), "mqtt").relpath
    settings = get_settings()
    report = LoadReport()
    with connect(settings) as con, pytest.raises(LoadError) as err:
        fail_batch(con, zone, relpath, settings.quarantine_dir, "readings", OSError(errno.ENOSPC, "No space left on device"), report)
    assert isinstance(err.value, EnvmonError)
    msg = str(err.value)
    assert relpath in msg and "disk is full" in msg and "ENVMON_DUCKDB_TEMP_DIR" in msg
    assert report.quarantined == [] and zone.list_batches() == [relpath]  # left to load later


# -- review finding I11: only errors a batch can cause quarantine it --------------------------------

_MACHINE_ERRORS = [
    # (error DuckDB raises, words the LoadError must carry: what to check)
    (lambda: duckdb.IOException('IO Error: Could not write file "/w/tmp/x.tmp": Disk quota exceeded'),
     "disk is full"),
    (lambda: duckdb.IOException('IO Error: Could not read from file "/w/envmon.duckdb": '
                                              "Input/output error"), "I/O errors (EIO"),
    (lambda: duckdb.IOException('IO Error: Failed to create directory "/w/tmp": No such file or '
                                              "directory"), "ENVMON_DUCKDB_TEMP_DIR"),
    (lambda: duckdb.PermissionException("Permission Error: cannot write the temp directory"),
     "permissions"),
    (lambda: duckdb.InvalidInputException('Invalid Input Error: Cannot execute statement of type '
                                                        '"INSERT" on database "w" which is attached in read-only '
                                                        "mode!"), "read-only"),
    (lambda: duckdb.TransactionException("TransactionContext Error: Conflict on tuple"),
     "another process writing"),
    (lambda: duckdb.CatalogException("Catalog Error: Table with name readings does not exist!"),
     "envmon init"),
    # batches are conformed to their schema first: a column DuckDB cannot bind is a schema behind
    # the code, not a bad batch
    (lambda: duckdb.BinderException('Binder Error: Referenced column "colour" not found'),
     "envmon init"),
    (lambda: duckdb.InternalException("INTERNAL Error: something DuckDB did not expect"),
     "not one a batch's rows can cause"),
]


def _two_batches() -> tuple[LandingZone, list[str]]:
    init_warehouse()
    zone = landing()
    a = zone.write_readings(readings_table([reading(h, 1.0) for h in range(3)]), "mqtt").relpath
    b = zone.write_readings(readings_table([reading(h, 2.0, site="tiantan") for h in range(3)]), "mqtt").relpath
    return zone, [a, b]


def _nothing_quarantined(zone: LandingZone, relpaths: list[str]) -> None:
    assert zone.list_batches() == relpaths  # still in the landing zone, for the next run
    assert count("SELECT count(*) FROM quarantined_batches") == 0
    assert count("SELECT count(*) FROM readings") == 0
    assert not (get_settings().quarantine_dir / "landing").exists()



@pytest.mark.parametrize(("make_error", "check"), _MACHINE_ERRORS)
def test_machine_error_stops_the_load_and_quarantines_nothing(monkeypatch, make_error, check) -> None:  # type: ignore[no-untyped-def]
    """I11: an error of the machine or warehouse fails every batch alike; none is blamed."""
    from core.errors import EnvmonError
    from warehouse import loader

    zone, relpaths = _two_batches()

    def fail(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise make_error()

    monkeypatch.setattr(loader, "_load_chunk", fail)
    with pytest.raises(loader.LoadError) as err:
        load_landing_job()
    msg = str(err.value)
    assert isinstance(err.value, EnvmonError)
    assert relpaths[0] in msg and "chunk of 2 readings batches" in msg, msg
    assert check in msg, msg
    _nothing_quarantined(zone, relpaths)


@pytest.mark.parametrize(("make_error", "check"), _MACHINE_ERRORS[1:3])
def test_machine_error_on_a_single_batch_names_it(monkeypatch, make_error, check) -> None:  # type: ignore[no-untyped-def]
    from warehouse import loader

    init_warehouse()
    zone = landing()
    only = zone.write_readings(readings_table([reading(0, 1.0)]), "mqtt").relpath
    monkeypatch.setattr(loader, "_load_chunk", lambda *_a, **_k: (_ for _ in ()).throw(make_error()))
    with pytest.raises(loader.LoadError) as err:
        load_landing_job()
    assert f"readings batch {zone.full_path(only)}" in str(err.value) and check in str(err.value)
    _nothing_quarantined(zone, [only])


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: duckdb.ConversionException("Conversion Error: Could not convert string 'x' to INT32"),
        lambda: duckdb.ConstraintException("Constraint Error: NOT NULL constraint failed: readings.unit"),
        lambda: duckdb.InvalidInputException("Invalid Input Error: invalid UTF-8 in column origin"),
        lambda: duckdb.OutOfRangeException("Out of Range Error: value out of range"),
    ],
)
def test_batch_error_quarantines_only_that_batch(monkeypatch, make_error) -> None:  # type: ignore[no-untyped-def]
    """I11, the other side: an error the batch's rows cause quarantines it, and the other batch loads."""
    from warehouse import loader

    zone, (good, bad) = _two_batches()
    real = loader._load_chunk

    def load(con, chunk, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(relpath == bad for relpath, _ in chunk):
            raise make_error()
        return real(con, chunk, *args, **kwargs)

    monkeypatch.setattr(loader, "_load_chunk", load)
    report = load_landing_job()
    assert [b.relpath for b in report.loaded] == [good]
    assert [r for r, _ in report.quarantined] == [bad]
    assert type(make_error()).__name__ in report.quarantined[0][1]
    assert zone.list_batches() == [good]
    assert count("SELECT count(*) FROM quarantined_batches") == 1
    assert count("SELECT count(*) FROM readings") == 3


def test_read_error_of_the_machine_stops_but_a_corrupt_file_is_quarantined(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A batch that cannot be read because of the machine (an OSError with an errno, e.g. EIO or
    EACCES) stops the load with nothing quarantined; a file that is not readable Parquet (pyarrow's
    error without an errno) is quarantined alone and the other batch loads."""
    import errno

    from warehouse import loader

    zone, (good, bad) = _two_batches()
    real = loader._read_batch

    def eio(landing, relpath, schema):  # type: ignore[no-untyped-def]
        if relpath == bad:
            raise OSError(errno.EIO, "Input/output error", landing.full_path(relpath))
        return real(landing, relpath, schema)

    monkeypatch.setattr(loader, "_read_batch", eio)
    with pytest.raises(loader.LoadError) as err:
        load_landing_job()
    assert "could not read readings batch" in str(err.value) and "Nothing was quarantined" in str(err.value)
    assert count("SELECT count(*) FROM quarantined_batches") == 0
    monkeypatch.setattr(loader, "_read_batch", real)
    Path(zone.full_path(bad)).write_bytes(b"not parquet at all")
    report = load_landing_job()
    assert [r for r, _ in report.quarantined] == [bad]
    assert [b.relpath for b in report.loaded] == [good]


def test_real_read_only_warehouse_stops_the_load_and_moves_nothing() -> None:
    """A real read-only DuckDB (no monkeypatch): before I11 the batch was moved to quarantine, then the
    record of it failed too; now the load stops and the batch stays where it is."""
    from warehouse.loader import LoadError, load_landing

    zone, relpaths = _two_batches()
    settings = get_settings()
    with connect(settings, write=False) as con, pytest.raises(LoadError) as err:
        load_landing(con, zone, settings.quarantine_dir)
    assert "read-only" in str(err.value) and relpaths[0] in str(err.value)
    _nothing_quarantined(zone, relpaths)
    report = load_landing_job()  # writable again: both load
    assert sorted(b.relpath for b in report.loaded) == relpaths and report.quarantined == []


def test_machine_error_on_a_dead_letter_batch_stops_the_load(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from warehouse import loader

    init_warehouse()
    zone = landing()
    ref = zone.write_dead_letters([{"origin": "t:1", "reason": "bad", "raw": b"x"}], "mqtt")

    def fail(*_a, **_k):  # type: ignore[no-untyped-def]
        raise duckdb.PermissionException("Permission Error: cannot open the warehouse for writing")

    monkeypatch.setattr(loader, "_load_dead_letter_batch", fail)
    with pytest.raises(loader.LoadError) as err:
        load_landing_job()
    assert f"dead-letter batch {zone.full_path(ref.relpath)}" in str(err.value) and "permissions" in str(err.value)
    assert zone.list_batches("deadletters") == [ref.relpath]
    assert count("SELECT count(*) FROM quarantined_batches") == 0


def test_machine_error_on_a_logger_event_batch_stops_the_load(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ingest.hj212.events import events_table
    from warehouse import event_loader
    from warehouse.loader import LoadError

    init_warehouse()
    zone = landing()
    row = {"site_id": "dongsi", "mn": "MN1", "cn": "2021", "event_time": T0, "kind": "run_status", "code": "SB1",
           "status_code": 1, "received_at": T0, "origin": "test"}  # fmt: skip
    ref = zone.write_logger_events(events_table([row]), "hj212")

    def fail(*_a, **_k):  # type: ignore[no-untyped-def]
        raise duckdb.IOException('IO Error: Could not write file "/w/envmon.duckdb.wal": Input/output error')

    monkeypatch.setattr(event_loader, "_insert", fail)
    with pytest.raises(LoadError) as err:
        load_landing_job()
    assert f"logger-event batch {zone.full_path(ref.relpath)}" in str(err.value) and "EIO" in str(err.value)
    assert zone.list_batches("loggerevents") == [ref.relpath]
    assert count("SELECT count(*) FROM quarantined_batches") == 0
    monkeypatch.undo()
    assert load_landing_job().logger_events == (1, 1)  # the machine mended: it loads


def test_a_batch_value_that_reads_like_a_machine_error_is_still_the_batch_s_fault(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """DuckDB quotes the offending value in a conversion error: a value such as 'No space left on
    device' or 'read-only' must not stop the load for everyone (the batch would never be quarantined)."""
    from warehouse import loader

    zone, (good, bad) = _two_batches()
    real = loader._load_chunk

    def load(con, chunk, *args, **kwargs):  # type: ignore[no-untyped-def]
        if any(relpath == bad for relpath, _ in chunk):
            raise duckdb.ConversionException(
                "Conversion Error: Could not convert string 'No space left on device; read-only; Disk quota "
                "exceeded; Permission denied; invalidated' to DOUBLE"
            )
        return real(con, chunk, *args, **kwargs)

    monkeypatch.setattr(loader, "_load_chunk", load)
    report = load_landing_job()
    assert [b.relpath for b in report.loaded] == [good]
    assert [r for r, _ in report.quarantined] == [bad]
    assert zone.list_batches() == [good]
