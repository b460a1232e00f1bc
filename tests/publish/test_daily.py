"""publish.daily: the report's values as published (HJ 633-2026 rounding, GB/T 8170 half to
even: integers in ug/m3, one decimal in mg/m3), the AQI bar chart's geometry, and the daily and
real-time contexts read from a warehouse — city first, a station without a report listed with
no values, the 30-day chart and the Monday-first month calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from _daily_fixture import DAY, NO_DATA_STATION, PM25_BY_SITE, expected, load_day

from publish import daily
from warehouse.db import connect

SH = ZoneInfo("Asia/Shanghai")


def test_values_are_rounded_half_to_even_in_their_units_decimals() -> None:
    assert daily.format_value(None, "pm25_24h_ugm3") == "—"
    assert daily.format_value(34.5, "pm25_24h_ugm3") == "34"
    assert daily.format_value(35.5, "pm25_24h_ugm3") == "36"
    assert daily.format_value(0.25, "co_24h_mgm3") == "0.2"
    assert daily.format_value(0.35, "co_24h_mgm3") == "0.4"


def test_chart_bars_scale_to_the_highest_aqi_and_mark_missing_points() -> None:
    chart = daily.chart_bars(
        [("1", "2016-12-01", 100, 2, "#FFFF00", "良"), ("2", "2016-12-02", None, None, None, None),
         ("3", "2016-12-03", 50, 1, "#00E400", "优")],
        width=300.0, height=220.0,
    )  # fmt: skip
    full, missing, half = chart["bars"]
    assert (chart["step"], chart["baseline"]) == (100.0, 190.0)  # 220 - 50 of room for the labels
    assert (full.x, full.y, full.width, full.height) == (10.0, 20.0, 80.0, 170.0)
    assert (half.y, half.height) == (105.0, 85.0)
    assert (full.value_text, full.title, full.text_colour) == ("100", "2016-12-01: AQI 100 良", "#000000")
    assert (missing.height, missing.value_text, missing.colour_hex) == (0.0, "—", "#D0D0D0")
    assert missing.title == "2016-12-02: —"


def test_daily_context_lists_the_city_then_every_station(warehouse) -> None:  # type: ignore[no-untyped-def]
    load_day(warehouse)
    with connect(warehouse, write=False) as con:
        ctx = daily.daily_context(con, DAY, root="../")
        assert daily.latest_day(con) == DAY
    rows = {r["site_id"]: r for r in ctx["rows"]}
    assert ctx["rows"][0]["site_id"] == "city" and ctx["rows"][0]["name_en"] == "City"
    for site in PM25_BY_SITE:
        aqi, level, category, _ = expected(site)
        assert (rows[site]["aqi"], rows[site]["level"], rows[site]["category"]) == (aqi, level, category)
    assert rows["dingling"]["values"]["pm25_24h_ugm3"] == "115"
    silent = rows[NO_DATA_STATION]
    assert silent["aqi"] is None and set(silent["values"].values()) == {"—"} and silent["texts"] is None
    assert ctx["has_data"] and ctx["editions"] == ["HJ633-2012"]
    # the chart: 30 days up to DAY; the city's day 7 before has no report
    bars = ctx["chart"]["bars"]
    assert len(bars) == daily.CHART_DAYS and bars[-1].value_text == str(expected("city")[0])
    assert bars[-1 - 7].value_text == "—"
    # the calendar of December 2016, Monday first: the 1st is a Thursday
    weeks = ctx["calendar"]["weeks"]
    assert weeks[0][:3] == [None, None, None] and weeks[0][3]["day"] == 1 and weeks[0][3]["current"]
    assert weeks[0][3]["href"] == "../daily/2016-12-01.html"
    assert weeks[1][0]["aqi"] is None  # a later day is not shown on this day's page


def test_hourly_context_of_an_hour_without_reports(warehouse) -> None:  # type: ignore[no-untyped-def]
    hour = dt.datetime(2016, 12, 1, 0, tzinfo=dt.UTC)
    with connect(warehouse, write=False) as con:
        ctx = daily.hourly_context(con, hour, SH, root="")
        assert daily.latest_hour(con) is None
    assert ctx["hour_local"] == dt.datetime(2016, 12, 1, 8, tzinfo=SH)
    assert not ctx["has_data"] and ctx["rows"][0]["site_id"] == "city"
    labels = [b.label for b in ctx["chart"]["bars"]]
    assert len(labels) == daily.CHART_HOURS and labels[0] == "09" and labels[-1] == "08"  # local hours


def test_hourly_chart_shows_the_citys_hours_in_local_time(warehouse) -> None:  # type: ignore[no-untyped-def]
    from _daily_fixture import insert_rows

    hour = dt.datetime(2016, 12, 1, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai

    def row(site_id: str, at: dt.datetime, aqi: int) -> dict:
        return {"site_id": site_id, "scope": "city" if site_id == "city" else "station",
                "period_start": at, "local_date": at.astimezone(SH).date(), "edition": "HJ633-2012",
                "aqi": aqi, "level": 2, "category": "良", "colour_hex": "#FFFF00", "valid": True,
                "computed_at": hour}  # fmt: skip

    with connect(warehouse, purpose="fixture") as con:
        insert_rows(con, "aqi_hourly", [
            row("city", hour, 95), row("city", hour - dt.timedelta(hours=2), 60),
            row("dongsi", hour - dt.timedelta(hours=1), 45),  # a station's hour is not the city's
            row("city", hour + dt.timedelta(hours=1), 120),  # later than the page's hour
        ])  # fmt: skip
    with connect(warehouse, write=False) as con:
        series = daily.hourly_series(con, hour, SH)
    assert len(series) == daily.CHART_HOURS
    assert series[-1] == ("08", "2016-12-01 08:00", 95, 2, "#FFFF00", "良")
    assert series[-2] == ("07", "2016-12-01 07:00", None, None, None, None)
    assert series[-3][:3] == ("06", "2016-12-01 06:00", 60)
    assert series[0][:3] == ("09", "2016-11-30 09:00", None)
