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
    "huairou": 20,
    "nongzhanguan": 55,
    "shunyi": 115,
    "tiantan": 116,
    "wanliu": 250,
    # wanshouxigong: no report that day
}
NO_DATA_STATION = "wanshouxigong"


def city_history(last: dt.date, days: int) -> dict:
    """City PM2.5 for the `days` days before `last` (a rising series; day 7 before missing)."""
    out = {}
    for i in range(1, days + 1):
        if i != 7:
            out[("city", last - dt.timedelta(days=i))] = 10 + 7 * i
    return out


def load_day(settings) -> None:
    values = {(site, DAY): pm25 for site, pm25 in PM25_BY_SITE.items()}
    insert_daily(settings, values | city_history(DAY, 40))
    with connect(settings, purpose="fixture") as con:
        con.execute("UPDATE sites SET name_zh = ? WHERE site_id = 'aotizhongxin'", [SCRIPT_NAME])


def expected(site_id: str) -> tuple[int, int, str, str]:
    return KNOWN[PM25_BY_SITE[site_id]]


__all__ = ["insert_rows"]
