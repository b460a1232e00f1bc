"""A day of AQI reports for every air station and the city (2016-12-01), computed by the
standards' AQI function from PM2.5 24-h means whose AQIs are worked out by hand."""

from __future__ import annotations

import datetime as dt

from _publish_helpers import insert_daily, insert_rows

from warehouse.db import connect

DAY = dt.date(2016, 12, 1)
SCRIPT_NAME = "<script>window.__pwned = 1</script>奥体中心"

# PM2.5 24-h mean -> (AQI, level, category, rgb of the HJ 633 colour); the other pollutants'
# IAQIs are at most 30 (_publish_helpers.BACKGROUND). HJ 633-2012 PM2.5 breakpoints 35/75/115/150/250/350:
#   20 -> max(20*50/35 = 28.6 -> 29, PM10 30) = 30     55 -> 50 + 20*50/40 = 75
#   115 -> 150 (top of level III)   116 -> 150 + 1*50/35 = 151.4 -> 152 (level IV)
#   250 -> 300 (top of level V)     260 -> 300 + 10*100/100 = 310 (level VI)
KNOWN = {
    20: (30, 1, "优", "rgb(0, 228, 0)"),
    55: (75, 2, "良", "rgb(255, 255, 0)"),
    115: (150, 3, "轻度污染", "rgb(255, 126, 0)"),
    116: (152, 4, "中度污染", "rgb(255, 0, 0)"),
    250: (300, 5, "重度污染", "rgb(153, 0, 76)"),
    260: (310, 6, "严重污染", "rgb(126, 0, 35)"),
}
PM25_BY_SITE = {
    "city": 116,
    "aotizhongxin": 20,
    "changping": 55,
    "dingling": 115,
    "dongsi": 116,
    "guanyuan": 250,
    "gucheng": 260,
    "huairou": 20,  # but its SO2 24-h mean is invalid: 数据不足 (INSUFFICIENT)
    "nongzhanguan": 55,
    "shunyi": 115,
    "tiantan": 116,
    "wanliu": 250,
    # wanshouxigong: no report that day
}
NO_DATA_STATION = "wanshouxigong"
# a station with a report but too few valid SO2 hours: under HJ 633-2012 (missing_indicator_policy
# all_required, aqi_edition_rules.csv) it has no AQI, only its other IAQIs
INSUFFICIENT_STATION = "huairou"
INSUFFICIENT_REASON = "so2: 17 valid hours < 20 required"
# its IAQIs: NO2 20 -> 25, PM10 30 -> 30, PM2.5 20 -> 29, CO 0.5 -> 13, O3 1-h 50 -> 16, O3 8-h 40 -> 20
INSUFFICIENT_IAQIS = {"NO₂": 25, "PM₁₀": 30, "PM₂.₅": 29, "CO": 13, "O₃ 1小时": 16, "O₃ 8小时": 20}


def city_history(last: dt.date, days: int) -> dict:
    """City PM2.5 for the `days` days before `last` (a rising series; day 7 before missing)."""
    out = {}
    for i in range(1, days + 1):
        if i != 7:
            out[("city", last - dt.timedelta(days=i))] = 10 + 7 * i
    return out


def load_day(settings) -> None:
    values = {(site, DAY): pm25 for site, pm25 in PM25_BY_SITE.items()}
    invalid = {(INSUFFICIENT_STATION, DAY): ("so2_24h_ugm3", INSUFFICIENT_REASON)}
    insert_daily(settings, values | city_history(DAY, 40), invalid)
    with connect(settings, purpose="fixture") as con:
        con.execute("UPDATE sites SET name_zh = ? WHERE site_id = 'aotizhongxin'", [SCRIPT_NAME])


def expected(site_id: str) -> tuple[int, int, str, str] | None:
    """(AQI, level, category, rgb) of a site's report on DAY; None when it has no AQI."""
    if site_id in (INSUFFICIENT_STATION, NO_DATA_STATION):
        return None
    return KNOWN[PM25_BY_SITE[site_id]]


__all__ = ["insert_rows"]


HOUR = dt.datetime(2016, 12, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # 08:00 local
HOURLY_SHORT_STATION = "dingling"  # its PM2.5 hour is missing: no real-time AQI (HJ 633-2012)


def load_hours(settings) -> None:
    """aqi_hourly rows from 00:00 to 08:00 local on DAY: the city and every station, AQI 40 + 5
    per hour (40..80: HJ 633-2012 level I up to 50, then II), one station short of PM2.5."""
    rows = []
    with connect(settings, write=False) as con:
        stations = [
            r[0] for r in con.execute("SELECT site_id FROM sites WHERE kind = 'air'").fetchall()
        ]
    for h in range(9):
        at = HOUR - dt.timedelta(hours=8 - h)
        aqi = 40 + 5 * h
        level, category, colour = (1, "优", "#00E400") if aqi <= 50 else (2, "良", "#FFFF00")
        for site in ["city", *stations]:
            short = site == HOURLY_SHORT_STATION and h == 8
            rows.append({
                "site_id": site, "scope": "city" if site == "city" else "station", "period_start": at,
                "local_date": DAY, "edition": "HJ633-2012", "aqi": None if short else aqi,
                "level": None if short else level, "category": None if short else category,
                "category_en": None, "colour_hex": None if short else colour,
                "primary_pollutants": "PM2.5" if aqi > 50 and not short else None,
                "iaqi_no2": 25, "iaqi_pm25": None if short else aqi,
                "pm25_1h_ugm3": None if short else aqi * 0.7, "no2_1h_ugm3": 50.0,
                "valid": not short, "missing_indicators": "pm25" if short else None,
                "computed_at": at + dt.timedelta(minutes=20), "realtime_reading": "literal",
            })  # fmt: skip
    with connect(settings, purpose="fixture") as con:
        insert_rows(con, "aqi_hourly", rows)
