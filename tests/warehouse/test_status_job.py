"""warehouse.jobs.status_job: as of a time, nothing after it; hours missing per site over the
last 24 hours (a five-hour hole in minute data is 5 h), by kind and worst first; the stored
reason a station has no daily AQI, invalid daily values and QC flags of the day before."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from _status_scenario import AT, FULL, OUTLET, fill

from core.settings import Settings
from warehouse.db import connect
from warehouse.jobs import status_job


@pytest.fixture
def scenario(migrated_warehouse: Settings) -> Settings:
    return fill(migrated_warehouse)


def test_status_job_counts_nothing_after_at(scenario: Settings) -> None:
    report = status_job(scenario, at=AT)
    full = next(s for s in report.sites if s.site_id == FULL)
    # the last reading before 06:00 UTC is 05:59, not the 07:59 reading that came later
    assert full.last_period_start == AT - timedelta(minutes=1)
    assert full.readings_today == 3 * 14 * 60  # 00:00..14:00 local, 3 parameters a minute; none later
    with connect(scenario, write=False) as con:
        before = con.execute("SELECT count(*) FROM readings WHERE period_start < ?", [AT]).fetchone()[0]
        after = con.execute("SELECT count(*) FROM readings WHERE period_start >= ?", [AT]).fetchone()[0]
    assert after > 0 and report.readings_total == before


def test_status_job_hours_missing_not_minute_counts(scenario: Settings) -> None:
    report = status_job(scenario, at=AT)
    by_id = {s.site_id: s for s in report.sites}
    assert (by_id[OUTLET].hours_missing, by_id[OUTLET].hours_expected) == (5, 24)
    assert by_id[FULL].hours_missing == 0 and by_id["dongsi"].hours_missing == 0
    # dongsi reports its 6 parameters every hour; outlet 2 only 3 of its 9: every hour incomplete
    assert by_id["dongsi"].hours_incomplete == 0 and by_id[FULL].hours_incomplete == 24
    # kinds in order, worst first within a kind
    kinds = [s.kind for s in report.sites]
    assert kinds == sorted(kinds, key=["air", "water", "noise", "outlet"].index)
    outlets = [s for s in report.sites if s.kind == "outlet"]
    assert [s.hours_missing for s in outlets] == sorted((s.hours_missing for s in outlets), reverse=True)
    assert outlets.index(by_id[OUTLET]) < outlets.index(by_id[FULL])


def test_status_job_an_hour_later_counts_the_hole_as_filled_no_more(scenario: Settings) -> None:
    # at 09:00 local (01:00 UTC) the hole (00:00-05:00 UTC) has begun one hour before
    report = status_job(scenario, at=datetime(2026, 12, 2, 1, tzinfo=UTC))
    assert next(s for s in report.sites if s.site_id == OUTLET).hours_missing == 1


def test_status_job_reasons_of_the_day_before(scenario: Settings) -> None:
    by_id = {s.site_id: s for s in status_job(scenario, at=AT).sites}
    assert by_id["dongsi"].day == date(2026, 12, 1)
    assert by_id["dongsi"].aqi is None and by_id["dongsi"].aqi_reason == "pm25: 17 valid hours < 20 required"
    assert by_id["tiantan"].aqi == 57 and by_id["tiantan"].aqi_reason is None
    assert by_id["dongsi"].aqi_reason != by_id["guanyuan"].aqi_reason  # not derived: said so
    assert "not derived" in by_id["guanyuan"].aqi_reason
    assert by_id[OUTLET].day_invalid == ("so2: 18 valid hours < 20 required",)
    assert by_id[OUTLET].qc_flags == (("suspect", "flat_line", 1),)


def test_status_job_counts_real_time_data_as_sent(scenario: Settings) -> None:
    """Real loggers (the 2016 province capture) may send only real-time data (CN 2011, interval 0)
    for parameters the registry lists as minute and hourly data: the hours they sent in are not
    missing."""
    site = FULL  # its minute data replaced by real-time data in the last three hours only
    with connect(scenario) as con:
        con.execute("DELETE FROM readings WHERE site_id = ?", [site])
        con.execute(
            """INSERT INTO readings (site_id, parameter, period_start, interval_s, source_kind, value, unit,
                                     received_at, batch_id)
               SELECT ?, 'so2', t, 0, 'hj212', 10.0, 'mg/m3', t, 'b3'
               FROM unnest(range(?::TIMESTAMPTZ, ?::TIMESTAMPTZ, INTERVAL 5 MINUTE)) AS x(t)""",
            [site, AT - timedelta(hours=3), AT])
    by_id = {s.site_id: s for s in status_job(scenario, at=AT).sites}
    assert (by_id[site].hours_missing, by_id[site].hours_expected) == (21, 24)  # sent in the last 3 hours
