"""The real DAGs, run by Airflow (`dag.test()` in an Airflow child process) on a real DuckDB
file: hourly then daily for a fixture day produce the expected rows; running the same logical
dates again changes nothing; a task that fails once and is retried gives the same result; a
backfill over three days equals three on-time runs."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from core.landing import LandingZone
from core.settings import get_settings, reset_settings_cache
from envmon.airflow_runner import run_dags
from envmon.pipeline import day_interval
from sim.generator import generate_day
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_registry_job
from warehouse.lock import warehouse_lock

DAY = date(2026, 3, 10)  # HJ 633-2026 in force
# All stations; three outlets keep minute data (the bulk of a real day) small for the test.
OUTLETS = ("huaneng_gaobeidian_da001", "yanshan_petrochem_dw001", "guohua_thermal_da001")
# Derived and alert tables compared between runs; computed_at and wall-clock columns excluded.
SNAPSHOT = {
    "aggregates": "* EXCLUDE (computed_at)",
    "aqi_hourly": "* EXCLUDE (computed_at)",
    "aqi_daily": "* EXCLUDE (computed_at)",
    "noise_daily": "* EXCLUDE (computed_at)",
    "water_class": "* EXCLUDE (computed_at)",
    "emission_totals": "* EXCLUDE (computed_at)",
    "data_availability": "* EXCLUDE (computed_at)",
    "qc_flags": "* EXCLUDE (evaluated_at)",
    "alerts": "*",
    "cases": "*",
    "case_events": "*",
}


def _tz():
    return get_settings().tz


def land_day(day: date, seed: int) -> int:
    registry, _ = load_registry_job()
    table = generate_day(registry, day, seed=seed)
    outlets = set(registry.outlets)
    keep = [s not in outlets or s in OUTLETS for s in table.column("site_id").to_pylist()]
    table = table.filter(pa.array(keep))
    LandingZone(get_settings().landing_root).write_readings(table, "sim")
    return table.num_rows


def hour_end(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=_tz()) + timedelta(hours=hour + 1)


def day_end(day: date) -> datetime:
    return day_interval(get_settings(), day)[1]


def snapshot() -> dict[str, list[tuple]]:
    with connect(write=False) as con:
        return {t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall() for t, cols in SNAPSHOT.items()}


def use_home(path: Path) -> None:
    import os

    os.environ["ENVMON_HOME"] = str(path)
    reset_settings_cache()
    init_warehouse()


def test_hourly_then_daily_produce_the_day_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    use_home(tmp_path / "home")
    land_day(DAY, seed=1)
    runs = [("hourly", hour_end(DAY, 7)), ("hourly", hour_end(DAY, 8)), ("daily", day_end(DAY))]
    results = run_dags(runs)
    assert [r.state for r in results] == ["success"] * 3
    assert datetime.fromisoformat(results[0].interval_start) == hour_end(DAY, 6)  # 07:00 local
    first = snapshot()
    with connect(write=False) as con:
        stations = [r[0] for r in con.execute("SELECT site_id FROM sites WHERE kind = 'air' ORDER BY 1").fetchall()]
        daily = con.execute(
            "SELECT site_id, scope, edition, aqi, valid FROM aqi_daily WHERE local_date = $d ORDER BY site_id",
            {"d": DAY}).fetchall()
        hour_rows = con.execute(
            """SELECT count(*) FROM aggregates WHERE statistic = 'hour_avg'
               AND period_start >= $lo AND period_start < $hi""",
            {"lo": day_interval(get_settings(), DAY)[0], "hi": day_interval(get_settings(), DAY)[1]}).fetchall()[0][0]
        availability = con.execute("SELECT count(*) FROM data_availability WHERE local_date = $d",
                                   {"d": DAY}).fetchall()[0][0]
    # one daily AQI per station and one for the city, by the edition in force on the day
    assert [r[0] for r in daily] == sorted([*stations, "city"])
    assert {r[2] for r in daily} == {"HJ633-2026"}
    assert all(r[3] is not None for r in daily if r[4])
    assert hour_rows > 0 and availability > 0
    site = Path(get_settings().site_dir)
    assert (site / "index.html").is_file()

    again = run_dags(runs)
    assert [r.state for r in again] == ["success"] * 3
    assert snapshot() == first


def test_a_task_failing_once_and_retried_gives_the_same_result(tmp_path: Path) -> None:
    use_home(tmp_path / "on_time")
    land_day(DAY, seed=2)
    run_dags([("daily", day_end(DAY))])
    expected = snapshot()

    use_home(tmp_path / "retried")
    land_day(DAY, seed=2)
    settings = get_settings()
    held = threading.Event()

    airflow_db = Path(settings.home) / "airflow" / "airflow.db"

    def load_has_failed_once() -> bool:
        if not airflow_db.exists():
            return False
        try:
            with sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True, timeout=1) as db:
                rows = db.execute("SELECT count(*) FROM task_instance WHERE dag_id = 'daily' AND task_id = 'load' "
                                  "AND (state = 'up_for_retry' OR try_number >= 2)").fetchall()
        except sqlite3.Error:
            return False
        return bool(rows and rows[0][0])

    def hold_lock() -> None:  # another writer holds the warehouse until the first try has failed
        with warehouse_lock(Path(settings.warehouse_path), exclusive=True, timeout_s=5, purpose="test holder"):
            held.set()
            deadline = time.monotonic() + 300
            while not load_has_failed_once() and time.monotonic() < deadline:
                time.sleep(0.5)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait(5)
    results = run_dags([("daily", day_end(DAY))],
                       extra_env={"ENVMON_LOCK_TIMEOUT_S": "1", "ENVMON_RETRY_DELAY_S": "3"})
    holder.join()
    assert results[0].state == "success"
    assert results[0].task_tries["load"] >= 2  # the first try did fail on the lock
    assert snapshot() == expected
    failures = Path(settings.log_dir) / "pipeline_failures.jsonl"
    assert not failures.exists()  # the retry succeeded: nobody was told of a failure


def test_a_backfill_over_three_days_equals_three_on_time_runs(tmp_path: Path) -> None:
    days = [DAY + timedelta(days=n) for n in range(3)]
    use_home(tmp_path / "on_time")
    for n, d in enumerate(days):  # each day's data lands, then that night's run
        land_day(d, seed=10 + n)
        assert run_dags([("daily", day_end(d))])[0].state == "success"
    on_time = snapshot()

    use_home(tmp_path / "backfill")
    for n, d in enumerate(days):  # a week of outage: everything lands, then the backfill
        land_day(d, seed=10 + n)
    results = run_dags([("daily", day_end(d)) for d in days])  # in order, as a backfill runs
    assert [r.state for r in results] == ["success"] * 3
    assert snapshot() == on_time
