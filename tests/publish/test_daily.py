"""publish.daily: the report's values as published (HJ 633-2026 rounding, GB/T 8170 half to
even: integers in ug/m3, one decimal in mg/m3), the AQI bar chart's geometry, and the daily and
real-time contexts read from a warehouse — city first, a station without a report listed with
no values, the 30-day chart and the Monday-first month calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from _daily_fixture import (
    DAY,
    INSUFFICIENT_IAQIS,
    INSUFFICIENT_STATION,
    NO_DATA_STATION,
    PM25_BY_SITE,
    expected,
    load_day,
)
from _publish_helpers import insert_daily

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
    # 376 x 222 units: the plot is 376 - 30 (left axis) - 46 (band names) = 300 wide and
    # 222 - 30 (values above the bars) - 22 (axis labels) = 170 high, its baseline at y = 200
    chart = daily.chart_bars(
        [("1", "2016-12-01", 100, 2, "#FFFF00", "良"), ("2", "2016-12-02", None, None, None, None),
         ("3", "2016-12-03", 50, 1, "#00E400", "优")],
        width=376.0, height=222.0, label_every=2,
    )  # fmt: skip
    full, missing, half = chart["bars"]
    assert (chart["step"], chart["baseline"], chart["left"], chart["right"]) == (
        100.0,
        200.0,
        30.0,
        330.0,
    )
    # the axis reaches the top of HJ 633-2012 level II (100); bars start 15% into their step
    assert (full.x, full.y, full.width, full.height) == (45.0, 30.0, 70.0, 170.0)
    assert (half.y, half.height) == (115.0, 85.0)
    assert (full.value_text, full.title, full.text_colour) == (
        "100",
        "2016-12-01: AQI 100 良",
        "#000000",
    )
    assert (missing.height, missing.value_text, missing.colour_hex) == (0.0, "—", "#D0D0D0")
    assert missing.title == "2016-12-02: —"
    assert [b.label for b in chart["bars"]] == ["1", "", "3"]  # every 2nd, counted from the last
    assert chart["ticks"] == [(200.0, "0"), (115.0, "50"), (30.0, "100")]
    assert [(b.y, b.height, b.colour_hex, b.label_zh) for b in chart["bands"]] == [
        (115.0, 85.0, "#00E400", "优"), (30.0, 85.0, "#FFFF00", "良")]  # fmt: skip


def test_chart_axis_ends_at_the_level_boundary_above_the_highest_aqi() -> None:
    def top(aqi: int) -> str:
        return daily.chart_bars([("1", "d", aqi, None, None, None)])["ticks"][-1][1]

    # HJ 633-2012 level boundaries 50 / 100 / 150 / 200 / 300; above 300 the next hundred
    assert [top(a) for a in (30, 100, 101, 150, 151, 300, 301, 420)] == [
        "100", "100", "150", "150", "200", "300", "400", "500"]  # fmt: skip


def test_daily_context_lists_the_city_then_every_station(warehouse) -> None:  # type: ignore[no-untyped-def]
    load_day(warehouse)
    with connect(warehouse, write=False) as con:
        ctx = daily.daily_context(con, DAY, root="../")
        assert daily.latest_day(con) == DAY
    rows = {r["site_id"]: r for r in ctx["rows"]}
    assert ctx["rows"][0]["site_id"] == "city" and ctx["rows"][0]["name_en"] == "City"
    for site in PM25_BY_SITE:
        if expected(site) is None:
            continue
        aqi, level, category, _ = expected(site)
        assert (rows[site]["aqi"], rows[site]["level"], rows[site]["category"]) == (
            aqi,
            level,
            category,
        )
        assert rows[site]["state"] == "ok" and rows[site]["href"] == f"../station/{site}.html"
    assert rows["dingling"]["values"]["pm25_24h_ugm3"] == "115"
    silent = rows[NO_DATA_STATION]
    assert (
        silent["aqi"] is None
        and set(silent["values"].values()) == {"—"}
        and silent["texts"] is None
    )
    assert silent["state"] == "absent" and silent["state_text"] == (
        "未报送数据",
        "No data reported",
    )
    short = rows[INSUFFICIENT_STATION]
    assert short["state"] == "insufficient" and short["state_text"][0] == "数据不足"
    assert short["reasons"] == [("SO₂ 有效小时数 17 < 20", "SO₂: 17 valid hours < 20 required")]
    assert {zh: v for zh, _en, v in short["iaqis"]} == INSUFFICIENT_IAQIS
    assert short["values"]["so2_24h_ugm3"] == "—" and short["values"]["pm25_24h_ugm3"] == "20"
    assert short["rule"][0] == "HJ 633-2012 规定：任一污染物数据不足时不发布AQI。"
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
    titles = [b.title for b in ctx["chart"]["bars"]]
    assert (
        len(labels) == daily.CHART_HOURS and labels[-1] == "08" and labels[-4] == "05"
    )  # local hours
    assert labels[0] == "" and labels[2] == "11" and titles[0] == "2016-11-30 09:00: —"


def test_hourly_chart_shows_the_citys_hours_in_local_time(warehouse) -> None:  # type: ignore[no-untyped-def]
    from _daily_fixture import insert_rows

    hour = dt.datetime(2016, 12, 1, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai

    def row(site_id: str, at: dt.datetime, aqi: int) -> dict:
        return {"site_id": site_id, "scope": "city" if site_id == "city" else "station",
                "period_start": at, "local_date": at.astimezone(SH).date(), "edition": "HJ633-2012",
                "aqi": aqi, "level": 2, "category": "良", "colour_hex": "#FFFF00", "valid": True,
                "computed_at": hour, "realtime_reading": "literal"}  # fmt: skip

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


def test_hj633_2026_publishes_the_aqi_of_the_rest_when_above_100(warehouse) -> None:  # type: ignore[no-untyped-def]
    """HJ 633-2026 (aqi.md §7; aqi_edition_rules.csv missing_indicator_policy partial_if_above,
    partial_publish_aqi_above 100): with SO2 invalid, the AQI of the other pollutants is
    published when above 100, else none is. The page shows what the row holds."""
    day = dt.date(2026, 3, 5)
    reason = "so2: 12 valid hours < 20 required"
    insert_daily(
        warehouse,
        {("dongsi", day): 116, ("tiantan", day): 20, ("city", day): 55},
        {("dongsi", day): ("so2_24h_ugm3", reason), ("tiantan", day): ("so2_24h_ugm3", reason)},
    )
    with connect(warehouse, write=False) as con:
        rows = {r["site_id"]: r for r in daily.daily_context(con, day, root="")["rows"]}
    high, low = rows["dongsi"], rows["tiantan"]
    assert high["edition"] == low["edition"] == "HJ633-2026"
    assert high["state"] == "partial" and high["aqi"] > 100 and high["texts"] is not None
    assert high["rule"][1].startswith(
        "HJ 633-2026: with a pollutant missing, the AQI of the others is published when above 100."
    )
    assert low["state"] == "insufficient" and low["aqi"] is None
    assert low["reasons"] == [("SO₂ 有效小时数 12 < 20", "SO₂: 12 valid hours < 20 required")]
    assert "it was not above 100, so none is published" in low["rule"][1]
    assert rows["city"]["state"] == "ok"


def test_latest_day_and_hour_that_have_ended(warehouse) -> None:  # type: ignore[no-untyped-def]
    load_day(warehouse)
    insert_daily(warehouse, {("city", DAY + dt.timedelta(days=1)): 20})
    with connect(warehouse, write=False) as con:
        assert daily.latest_day(con) == DAY + dt.timedelta(days=1)
        # at 23:59:59 local on 2 Dec that day has not ended; at midnight it has
        assert daily.latest_day(con, dt.datetime(2016, 12, 2, 23, 59, 59, tzinfo=SH), SH) == DAY
        assert daily.latest_day(con, dt.datetime(2016, 12, 3, tzinfo=SH), SH) == DAY + dt.timedelta(
            days=1
        )
        assert not daily.day_has_ended(DAY, dt.datetime(2016, 12, 1, 23, 59, tzinfo=SH), SH)
        assert daily.day_has_ended(DAY, dt.datetime(2016, 12, 1, 16, tzinfo=dt.UTC), SH)


def test_when_text_is_local_time_with_its_offset() -> None:
    assert (
        daily.when_text(dt.datetime(2016, 12, 1, 0, tzinfo=dt.UTC), SH)
        == "2016-12-01 08:00 (UTC+08:00)"
    )
    assert daily.when_text(None, SH) is None
    assert daily.format_value(float("nan"), "pm25_24h_ugm3") == "—"
