"""A month of reports (2016-12) from the real Beijing PRSA data, checked for invariants.

The derived rows are computed here the way the derivation stage does it, with the standards'
functions (daily values -> AQI -> HJ 663 statistics -> composite index), then published.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import polars as pl
import pytest
from _publish_helpers import ARTIFACTS, COMPUTED_AT, insert_rows

from publish.jobs import publish_daily, publish_hourly, publish_monthly
from transforms.derive import air as derive_air
from transforms.standards import tables
from transforms.standards.air_daily import daily_air_values
from transforms.standards.air_statistics import comprehensive_index, monthly_air_statistics
from warehouse.db import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.prsa import PRSA_DIR, load_prsa

pytestmark = pytest.mark.slow
SH = ZoneInfo("Asia/Shanghai")
DEC = dt.date(2016, 12, 1)
POLLUTANTS = ["so2_ugm3", "no2_ugm3", "pm10_ugm3", "pm25_ugm3", "co_mgm3", "o3_ugm3"]


def derived_rows() -> tuple[list[dict], list[dict]]:
    hourly = load_prsa(PRSA_DIR).filter(
        pl.col("period_start").dt.date().is_between(dt.date(2016, 11, 1), dt.date(2016, 12, 31))
    )
    hourly = hourly.with_columns(pl.col("site").str.to_lowercase())
    stations = sorted(hourly["site"].unique())
    # as the derivation stage does it (transforms.derive.air): station daily values with their
    # validity and reasons, the city's from the stations' valid daily values, then the AQI rows
    station_daily = daily_air_values(hourly)
    daily = pl.concat(
        [station_daily, derive_air.city_daily(station_daily, stations)], how="diagonal_relaxed"
    )
    rows, report = derive_air.aqi_daily_rows(daily)
    day_rows = [r | {"computed_at": COMPUTED_AT} for r in rows.iter_rows(named=True)]
    with_aqi = daily.join(report.select("site", "date", "aqi"), on=["site", "date"])
    stats = comprehensive_index(monthly_air_statistics(with_aqi.filter(pl.col("date") >= DEC)))
    stations = stats.filter(pl.col("site") != "city").with_columns(
        pl.col("composite_index").rank("min").cast(pl.Int32).alias("rank")
    )
    stats = pl.concat([stations, stats.filter(pl.col("site") == "city")], how="diagonal")
    stat_rows = []
    for r in stats.iter_rows(named=True):
        levels = {n: 0 for n in range(1, 7)}
        for lv in report.filter((pl.col("site") == r["site"]) & (pl.col("date") >= DEC))["level"]:
            if lv is not None:
                levels[lv] += 1
        stat_rows.append(
            {
                "site_id": r["site"], "scope": "city" if r["site"] == "city" else "station",
                "period": "month", "period_start": DEC, "gb3095_edition": "GB3095-2012",
                "aqi_days": r["aqi_days"], "good_days": r["good_days"], "good_share": r["good_share"],
                **{f"days_level_{n}": levels[n] for n in levels},
                **{c: r[c] for c in ("so2_mean_ugm3", "no2_mean_ugm3", "pm10_mean_ugm3",
                                     "pm25_mean_ugm3", "co_p95_mgm3", "o3_8h_p90_ugm3",
                                     "composite_index", "main_pollutant")},
                "rank": r.get("rank"), "valid": True, "computed_at": COMPUTED_AT,
            }
        )  # fmt: skip
    return day_rows, stat_rows


def level_of(edition: str, aqi: int) -> dict[str, str]:
    for row in tables.rows("aqi_levels", edition=edition):
        if int(row["aqi_from"]) <= aqi and (not row["aqi_to"] or aqi <= int(row["aqi_to"])):
            return row
    raise AssertionError(f"AQI {aqi} in no level of {edition}")


def test_december_2016_reports_from_real_data(warehouse, tmp_path):
    day_rows, stat_rows = derived_rows()
    with connect(warehouse, purpose="fixture") as con:
        insert_rows(con, "aqi_daily", day_rows)
        insert_rows(con, "air_period_stats", stat_rows)
    out = tmp_path / "site"
    for day in range(1, 32):
        publish_daily(warehouse, dt.date(2016, 12, day), out=str(out))
    publish_monthly(warehouse, DEC, out=str(out))

    held = {(r["site_id"], r["local_date"]): r for r in day_rows}
    per_site: dict[str, list[int]] = {}
    for day in range(1, 32):
        d = dt.date(2016, 12, day)
        page = json.loads((out / "daily" / f"{d}.json").read_text(encoding="utf-8"))
        assert len(page["rows"]) == 13, d  # 12 stations and the city
        for r in page["rows"]:
            assert r["aqi"] == held[(r["site_id"], d)]["aqi"]
            if r["aqi"] is None:
                continue
            per_site.setdefault(r["site_id"], []).append(r["aqi"])
            lv = level_of(
                r["edition"], r["aqi"]
            )  # published level, category, colour and texts agree
            assert (str(r["level"]), r["category"], r["colour_hex"]) == (
                lv["level"],
                lv["category_zh"],
                lv["colour_hex"],
            )
            assert r["health_effect_zh"] == lv["health_effect_zh"]
    assert '<time datetime="2016-12-31">' in (out / "index.html").read_text(encoding="utf-8")
    # the heavy smog of 16-21 December 2016 (Beijing's red alert) is in the city's reports
    smog = [
        json.loads((out / "daily" / f"2016-12-{d}.json").read_text(encoding="utf-8"))
        for d in range(16, 22)
    ]
    assert max(p["rows"][0]["level"] or 0 for p in smog) >= 5
    _check_insufficient_days(out, day_rows)
    _check_real_time_and_station_pages(warehouse, out)
    shutil.copytree(out, ARTIFACTS / "beijing_site", dirs_exist_ok=True)  # to look at
    print(f"pages: {ARTIFACTS / 'beijing_site'}")

    wb = openpyxl.load_workbook(out / "disclosure" / "2016-12" / "disclosure_2016-12.xlsx")
    air = list(wb["1 air"].iter_rows(min_row=3, values_only=True))
    assert air[0][:2] == ("全市", "City") and len(air) == 13  # named, no site ids
    assert air[0][18] == "PM₂.₅"  # the main pollutant as people read it (stored: pm25)
    with connect(warehouse, write=False) as con:
        site_of = dict(con.execute("SELECT name_zh, site_id FROM sites").fetchall()) | {"全市": "city"}
    for r in air:
        site, aqi_days, good_days, days = site_of[r[0]], r[2], r[3], r[5:11]
        assert aqi_days == len(per_site[site]) and sum(days) == aqi_days
        assert good_days == sum(1 for a in per_site[site] if a <= 100)
    ranks = sorted(r[19] for r in air[1:] if r[19] is not None)
    assert ranks and ranks[0] == 1 and ranks == sorted(ranks)
    # what reaches the public: no internal status, snake_case id or nan in any cell
    from test_publish_disclosure import _assert_public

    _assert_public(out / "disclosure" / "2016-12")


def _check_insufficient_days(out: Path, day_rows: list[dict]) -> None:
    """Every station-day with a report but no AQI says 数据不足 with its reasons, in the JSON
    and on the page, and shows the IAQIs it holds; figures printed for the report."""
    short = [r for r in day_rows if r["local_date"] >= DEC and r["aqi"] is None]
    assert short, "December 2016 has station-days with too few valid hours"
    reasons: dict[str, int] = {}
    for r in short:
        d = r["local_date"]
        page = json.loads((out / "daily" / f"{d}.json").read_text(encoding="utf-8"))
        row = next(x for x in page["rows"] if x["site_id"] == r["site_id"])
        assert row["data_note_zh"].startswith("数据不足"), (d, r["site_id"], row["data_note_zh"])
        html = (out / "daily" / f"{d}.html").read_text(encoding="utf-8")
        detail = html.split(f'data-detail-of="{r["site_id"]}"', 1)[1].split("</tr>", 1)[0]
        assert "数据不足" in detail and "HJ 633-2012 规定" in detail
        for part in (r["invalid_reasons"] or "").split("; "):
            if part:  # e.g. "co: 17 valid hours < 20 required": counted by indicator
                reasons[part.split(":")[0]] = reasons.get(part.split(":")[0], 0) + 1
        if any(r[f"iaqi_{i}"] is not None for i in ("so2", "no2", "pm10", "pm25", "co")):
            assert "已有分指数" in detail
    for page in [*out.glob("*.html"), *out.glob("daily/*.html"), *out.glob("station/*.html")]:
        text = page.read_text(encoding="utf-8")
        assert "无数据" not in text and ">nan<" not in text and "待核实" not in text, page
    print(f"\n{len(short)} station-days of December 2016 show 数据不足; by indicator: {reasons}")


def _check_real_time_and_station_pages(warehouse, out: Path) -> None:
    """The real-time page of 31 December 23:00 from the real hours, the station pages, the
    archive (every December day)."""
    hourly = load_prsa(PRSA_DIR).filter(
        pl.col("period_start").dt.date().is_between(dt.date(2016, 12, 29), dt.date(2016, 12, 31))
    )
    hourly = hourly.with_columns(
        pl.col("site").str.to_lowercase(), pl.col("period_start").dt.convert_time_zone("UTC")
    )
    stations = sorted(hourly["site"].unique())
    wide = pl.concat([hourly, derive_air.city_hours(hourly, stations)], how="diagonal_relaxed")
    lo = dt.datetime(2016, 12, 30, 16, tzinfo=dt.UTC)  # 31 December, local
    rows = derive_air.aqi_hourly_rows(wide, "Asia/Shanghai", lo, lo + dt.timedelta(days=1))
    with connect(warehouse, purpose="fixture") as con:
        hours = [r | {"computed_at": COMPUTED_AT} for r in rows.iter_rows(named=True)]
        insert_rows(con, "aqi_hourly", hours)
    published_at = dt.datetime(2017, 1, 1, 0, 30, tzinfo=SH)
    report = publish_hourly(warehouse, None, out=str(out), now=published_at)
    assert report.period == "2016-12-31T23:00+08:00" and report.has_data
    page = (out / "realtime.html").read_text(encoding="utf-8")
    assert 'data-stale-after-ms="7200000" hidden>' in page  # published 90 minutes after 23:00
    short_hours = rows.filter(pl.col("aqi").is_null()).height
    print(f"real-time 2016-12-31: {rows.height} station-hours, {short_hours} without an AQI")
    assert len(list((out / "station").glob("*.html"))) == 13
    archive = (out / "archive.html").read_text(encoding="utf-8")
    assert all(f'href="daily/2016-12-{d:02d}.html"' in archive for d in range(1, 32))
