"""The daily run reuses the hourly run's hours (transforms/derive/hour_cache.py): the same rows as
deriving them again, and never once anything they depend on changed since (a late load, a staff
review, a QC run, a registry load)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from derivedata import query, reading

import transforms.derive.hour_cache as hour_cache
from core.settings import Settings
from transforms.derive.daily import derive_daily
from transforms.derive.hourly import derive_hourly
from transforms.qc.review import record_review
from transforms.qc.run import run_qc_on
from warehouse.db import connect
from warehouse.jobs import load_registry_job

HOUR = timedelta(hours=1)
DAY = date(2024, 3, 1)
T0 = datetime(2024, 2, 29, 16, tzinfo=UTC)  # local midnight of DAY (Asia/Shanghai)
T1 = T0 + 24 * HOUR
OUTLET = "huaneng_gaobeidian_da001"
DAILY_TABLES = ("aggregates", "aqi_daily", "emission_totals", "noise_daily", "water_class")


def _hours(site: str, parameter: str, value: float, unit: str, hours: range) -> list[dict]:
    return [reading(site, parameter, T0 + h * HOUR, value, unit) for h in hours]


def _day_rows() -> list[dict]:
    rows = _hours("aotizhongxin", "pm25", 50.0, "ug/m3", range(20))  # 20 valid hours: valid day
    rows += _hours("changping", "pm25", 70.0, "ug/m3", range(19))  # 19: invalid, one short
    rows += _hours(OUTLET, "so2", 30.0, "mg/m3", range(24))
    rows += _hours(OUTLET, "flue_flow", 400000.0, "m3/h", range(24))
    # noise into the next morning: the night of DAY ends after local midnight
    rows += _hours("nz_dongsi_res", "leq", 55.0, "dB(A)", range(30))
    return rows


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[datetime, datetime]]:
    """The ranges the daily run derives from the readings (not read from the kept hours)."""
    calls: list[tuple[datetime, datetime]] = []
    derive = hour_cache.hour_values

    def recorded(con, net, lo, hi, site_ids=None):  # type: ignore[no-untyped-def]
        calls.append((lo, hi))
        return derive(con, net, lo, hi, site_ids=site_ids)

    monkeypatch.setattr(hour_cache, "hour_values", recorded)
    return calls


def _tables(wh: Settings) -> dict[str, list[tuple]]:
    return {t: query(wh, f"SELECT * EXCLUDE (computed_at) FROM {t} ORDER BY ALL") for t in DAILY_TABLES}


def _day_avg(wh: Settings, site: str) -> tuple:
    return query(
        wh,
        """SELECT value, valid, n_valid FROM aggregates
           WHERE site_id = ? AND parameter = 'pm25' AND statistic = 'day_avg'""",
        [site],
    )[0]


def test_daily_reads_the_hourly_runs_hours_and_stores_the_same_rows(wh, insert, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    insert(_day_rows(), T0, T0 + 30 * HOUR)
    derive_hourly(wh, T0, T1)
    assert query(wh, "SELECT range_start, range_end FROM hour_value_runs") == [(T0, T1)]
    kept = query(wh, "SELECT count(*), min(period_start), max(period_start) FROM hour_values")
    assert kept[0][0] > 0 and kept[0][1:] == (T0, T1 - HOUR)

    calls = _spy(monkeypatch)
    derive_daily(wh, DAY)
    assert calls and all(lo >= T1 for lo, _ in calls), calls  # only the next morning derived
    reused = _tables(wh)
    assert _day_avg(wh, "aotizhongxin") == (50.0, True, 20)
    assert _day_avg(wh, "changping") == (None, False, 19)
    assert query(wh, "SELECT n_night_hours FROM noise_daily WHERE site_id = 'nz_dongsi_res'") == [(8,)]

    with connect(wh) as con:  # without the kept hours: everything derived, the same rows
        con.execute("DELETE FROM hour_value_runs")
    calls.clear()
    derive_daily(wh, DAY)
    assert calls and calls[0][0] == T0
    assert _tables(wh) == reused


def _late_load(wh: Settings, insert: Callable[..., None]) -> None:
    insert(_hours("changping", "pm25", 70.0, "ug/m3", range(19, 20)), T0, T0 + 30 * HOUR)


def _review(wh: Settings, insert: Callable[..., None]) -> None:
    with connect(wh) as con:
        record_review(con, "flag", "aotizhongxin", "pm25", T0, T0 + HOUR, "zero drift", "staff1")


def _qc_run(wh: Settings, insert: Callable[..., None]) -> None:
    with connect(wh) as con:
        run_qc_on(con, wh, T0, T1)


def _registry_load(wh: Settings, insert: Callable[..., None]) -> None:
    with connect(wh) as con:  # the registry is the same; its load is still recorded
        con.execute("DELETE FROM registry_loads")
    load_registry_job(wh)


@pytest.mark.parametrize(
    ("change", "site", "expected"),
    [
        (_late_load, "changping", (70.0, True, 20)),  # the 20th hour arrives late: a valid day
        (_review, "aotizhongxin", (None, False, 19)),  # staff flag an hour: one short
        (_qc_run, "aotizhongxin", (50.0, True, 20)),
        (_registry_load, "aotizhongxin", (50.0, True, 20)),
    ],
    ids=["late_load", "review", "qc_run", "registry_load"],
)
def test_a_change_after_the_hourly_run_makes_the_daily_run_derive_again(  # type: ignore[no-untyped-def]
    wh, insert, monkeypatch, change, site, expected
) -> None:
    insert(_day_rows(), T0, T0 + 30 * HOUR)
    derive_hourly(wh, T0, T1)
    with connect(wh) as con:
        before = hour_cache.inputs_token(con)
    change(wh, insert)
    with connect(wh) as con:
        assert hour_cache.inputs_token(con) != before
    calls = _spy(monkeypatch)
    derive_daily(wh, DAY)
    assert calls and calls[0][0] == T0, calls  # the whole day derived from the readings
    assert _day_avg(wh, site) == expected


def test_units_from_the_configuration_files_are_never_kept(wh, insert) -> None:  # type: ignore[no-untyped-def]
    insert(_day_rows(), T0, T0 + 30 * HOUR)
    with connect(wh) as con:  # a warehouse loaded before migration 0080 stored no site units
        con.execute("UPDATE site_parameters SET unit = NULL")
        assert hour_cache.inputs_token(con) is None
    derive_hourly(wh, T0, T1)
    assert query(wh, "SELECT count(*) FROM hour_value_runs") == [(0,)]
    assert query(wh, "SELECT count(*) FROM hour_values") == [(0,)]
