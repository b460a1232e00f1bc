"""envmon.cli.aggregate: `envmon aggregate hourly|daily|monthly` over a warehouse holding one
QC-checked day of the AQI worked example at dongsi (every hour: SO2 12, NO2 46, PM10 98,
PM2.5 80 µg/m³, CO 1.1 mg/m³, O3 100 µg/m³ -> daily AQI 107, PM2.5, HJ 633-2012 Table 1).
Local dates are Asia/Shanghai days: [16:00 UTC the day before, 16:00 UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import typer
from _cli_run import WIDE, envmon, load_worked_day, main_exit

from envmon.cli import aggregate as aggregate_cli
from warehouse.db import connect

# times as people read them: local, with the offset (core.periods.local_minute)
LINE = re.compile(r"^(\w+) (\d{4}-\d\d-\d\d \d\d:\d\d\+08:00) → (\d{4}-\d\d-\d\d \d\d:\d\d\+08:00): (\d+) rows \((.*)\)$")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregate_cli.console, "width", WIDE)


@pytest.fixture
def worked_day(wh, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The warehouse of the CLI tests with 1 March 2024 (local) of the worked example, QC run."""
    load_worked_day(tmp_path)
    return wh


def parse(out: str) -> list[tuple[str, str, str, int, dict[str, int]]]:
    found = []
    for line in out.splitlines():
        m = LINE.match(line)
        assert m, line
        tables = {k: int(n) for k, n in (t.rsplit(" ", 1) for t in m[5].split(", "))}
        found.append((m[1], m[2], m[3], int(m[4]), tables))
    return found


def test_register_adds_the_aggregate_group() -> None:
    app = typer.Typer()
    aggregate_cli.register(app)
    assert [g.name for g in app.registered_groups] == ["aggregate"]
    assert [c.name for c in aggregate_cli.aggregate_app.registered_commands] == ["hourly", "daily", "monthly",
                                                                              "yearly"]


def test_daily_is_the_local_day_with_the_worked_aqi(worked_day) -> None:  # type: ignore[no-untyped-def]
    ((stage, lo, hi, total, tables),) = parse(envmon("aggregate", "daily", "--date", "2024-03-01"))
    assert (stage, lo, hi) == ("daily", "2024-03-01 00:00+08:00", "2024-03-02 00:00+08:00")
    assert total == sum(tables.values()) and tables["aqi_daily"] >= 1
    with connect(worked_day, write=False) as con:
        got = con.execute("SELECT local_date, edition, aqi, level, category, primary_pollutants, iaqi_pm25, "
                          "iaqi_no2, iaqi_co FROM aqi_daily WHERE site_id = 'dongsi'").fetchall()
    assert got == [(date(2024, 3, 1), "HJ633-2012", 107, 3, "轻度污染", "PM2.5", 107, 58, 28)]


def test_daily_to_runs_each_day_and_reruns_give_the_same_rows(worked_day) -> None:  # type: ignore[no-untyped-def]
    first = parse(envmon("aggregate", "daily", "--date", "2024-03-01", "--to", "2024-03-02"))
    assert [(s, lo, hi) for s, lo, hi, _, _ in first] == [("daily", "2024-03-01 00:00+08:00", "2024-03-02 00:00+08:00"),
                                                           ("daily", "2024-03-02 00:00+08:00", "2024-03-03 00:00+08:00")]
    assert parse(envmon("aggregate", "daily", "--date", "2024-03-01")) == first[:1]  # same rows again


def test_hourly_takes_local_times_or_times_with_offsets(worked_day) -> None:  # type: ignore[no-untyped-def]
    # a time without an offset is local time, as everywhere a person types one
    assert parse(envmon("aggregate", "hourly", "--start", "2024-03-01T00:00", "--end", "2024-03-01T03:00"))[0][:3] == (
        "hourly", "2024-03-01 00:00+08:00", "2024-03-01 03:00+08:00")
    out = envmon("aggregate", "hourly", "--start", "2024-03-01T00:00+08:00", "--end", "2024-02-29T19:00Z")
    ((stage, lo, hi, total, tables),) = parse(out)
    assert (stage, lo, hi) == ("hourly", "2024-03-01 00:00+08:00", "2024-03-01 03:00+08:00")
    assert total == sum(tables.values()) and "aqi_hourly" in tables
    with connect(worked_day, write=False) as con:
        got = con.execute("SELECT period_start, local_date, iaqi_pm25 FROM aqi_hourly WHERE site_id = 'dongsi' "
                          "ORDER BY 1").fetchall()
    assert [(ts.astimezone(UTC), d) for ts, d, _ in got] == [
        (datetime(2024, 2, 29, h, tzinfo=UTC), date(2024, 3, 1)) for h in (16, 17, 18)]
    # real-time AQI under the national practice (default): PM2.5 1-h 80 on the 24-h breakpoints
    # 75→100, 115→150: 100 + 50·5/40 = 106.25 → 107, from the first hour (no 24-h window needed)
    assert [i for *_, i in got] == [107, 107, 107]


def test_monthly_is_the_local_month_leap_february_included(worked_day) -> None:  # type: ignore[no-untyped-def]
    ((stage, lo, hi, total, tables),) = parse(envmon("aggregate", "monthly", "--month", "2024-02"))
    assert (stage, lo, hi) == ("monthly", "2024-02-01 00:00+08:00", "2024-03-01 00:00+08:00")
    assert total == sum(tables.values()) and "air_period_stats" in tables


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hourly", "--start", "2024-03-01T00:00+08:00", "--end", "tomorrow"],
         "--end: 'tomorrow' is not an ISO 8601 time (e.g. 2024-03-01T00:00, local time, or 2024-03-01T00:00+08:00)"),
        (["daily", "--date", "2024-03-02", "--to", "2024-03-01"], "--to 2024-03-01 is before --date 2024-03-02"),
    ],
)
def test_bad_times_exit_2_naming_the_option(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = main_exit(monkeypatch, capsys, "aggregate", *args)
    assert (code, out, err) == (2, "", f"envmon: error: {message}\n")


def test_a_range_of_part_hours_is_refused(wh, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = main_exit(monkeypatch, capsys, "aggregate", "hourly", "--start", "2024-03-01T00:30+08:00",
                             "--end", "2024-03-01T03:00+08:00")
    assert code == 2
    assert err == ("envmon: error: hourly ranges need whole hours, got 2024-02-29T16:30:00+00:00 .. "
                   "2024-02-29T19:00:00+00:00\n")
    code, _, err = main_exit(monkeypatch, capsys, "aggregate", "daily", "--date", "2024-13-01")
    assert code == 2 and "Invalid value for '--date'" in err


# -- periods that have not ended: refused, by the clock read at the command (replaced here) ----
def _clock_at(monkeypatch: pytest.MonkeyPatch, local: str) -> None:
    from zoneinfo import ZoneInfo

    at = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    monkeypatch.setattr(aggregate_cli, "_clock", lambda: at.astimezone(UTC))


@pytest.mark.parametrize(
    ("args", "last_second", "message"),
    [
        (["daily", "--date", "2024-02-28", "--to", "2024-03-01"], "2024-03-01T23:59:59",
         "the day 2024-03-01 (2024-03-01T00:00:00+08:00 to 2024-03-02T00:00:00+08:00) has not ended: it ends "
         "at 2024-03-02T00:00:00+08:00 local time, and it is now 2024-03-01T23:59:59+08:00; a day is derived "
         "once it has ended"),
        (["monthly", "--month", "2024-02"], "2024-02-29T23:59:59",
         "the month 2024-02 (2024-02-01T00:00:00+08:00 to 2024-03-01T00:00:00+08:00) has not ended: it ends "
         "at 2024-03-01T00:00:00+08:00 local time, and it is now 2024-02-29T23:59:59+08:00; its statistics "
         "are derived once it has ended (--allow-partial derives it to date)"),
        (["hourly", "--start", "2024-03-01T22:00", "--end", "2024-03-02T00:00"], "2024-03-01T23:59:59",
         "the range of hours (2024-03-01T22:00:00+08:00 to 2024-03-02T00:00:00+08:00) has not ended: it ends at 2024-03-02T00:00:00+08:00 local time, and it is "
         "now 2024-03-01T23:59:59+08:00; an hour is derived once it has ended"),
        (["yearly", "--year", "2024"], "2024-12-31T23:59:59",
         "the year 2024 (2024-01-01T00:00:00+08:00 to 2025-01-01T00:00:00+08:00) has not ended: it ends "
         "at 2025-01-01T00:00:00+08:00 local time, and it is now 2024-12-31T23:59:59+08:00; its statistics "
         "are derived once it has ended (--allow-partial derives it to date)"),
    ],
)
def test_a_period_whose_last_second_is_still_ahead_is_refused(
    wh, args: list[str], last_second: str, message: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # type: ignore[no-untyped-def]
    _clock_at(monkeypatch, last_second)  # the period's last second has begun, not ended
    code, out, err = main_exit(monkeypatch, capsys, "aggregate", *args)
    assert (code, out, err) == (2, "", f"envmon: error: {message}\n")
    with connect(wh, write=False) as con:  # nothing was derived
        assert con.execute("SELECT count(*) FROM air_period_stats").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM aqi_daily").fetchone() == (0,)


@pytest.mark.parametrize(
    ("args", "just_after", "stage"),
    [
        (["daily", "--date", "2024-03-01"], "2024-03-02T00:00:01", "daily"),
        (["hourly", "--start", "2024-03-01T22:00", "--end", "2024-03-02T00:00"], "2024-03-02T00:00:01", "hourly"),
        (["monthly", "--month", "2024-02"], "2024-03-01T00:00:01", "monthly"),
        (["yearly", "--year", "2023"], "2024-01-01T00:00:01", "yearly"),
    ],
)
def test_a_period_ended_one_second_ago_is_derived(
    worked_day, args: list[str], just_after: str, stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _clock_at(monkeypatch, just_after)
    ((got, *_),) = parse(envmon("aggregate", *args))
    assert got == stage


def test_allow_partial_derives_the_month_to_date(worked_day, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _clock_at(monkeypatch, "2024-03-02T12:00:00")  # March under way; 1 March holds the worked day
    ((stage, lo, hi, _, tables),) = parse(envmon("aggregate", "monthly", "--month", "2024-03", "--allow-partial"))
    assert (stage, lo, hi) == ("monthly", "2024-03-01 00:00+08:00", "2024-04-01 00:00+08:00")
    assert "air_period_stats" in tables
