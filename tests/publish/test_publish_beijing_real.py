"""A month of reports (2016-12) from the real Beijing PRSA data, checked for invariants.

The derived rows are computed here the way the derivation stage does it, with the standards'
functions (daily values -> AQI -> HJ 663 statistics -> composite index), then published.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from _publish_helpers import COMPUTED_AT, insert_rows

from publish.jobs import publish_daily, publish_monthly
from transforms.standards import tables
from transforms.standards.air_daily import daily_air_values
from transforms.standards.air_reports import aqi_daily
from transforms.standards.air_statistics import comprehensive_index, monthly_air_statistics
from warehouse.db import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.prsa import PRSA_DIR, load_prsa

pytestmark = pytest.mark.slow
DEC = dt.date(2016, 12, 1)
POLLUTANTS = ["so2_ugm3", "no2_ugm3", "pm10_ugm3", "pm25_ugm3", "co_mgm3", "o3_ugm3"]


def derived_rows() -> tuple[list[dict], list[dict]]:
    hourly = load_prsa(PRSA_DIR).filter(
        pl.col("period_start").dt.date().is_between(dt.date(2016, 11, 1), dt.date(2016, 12, 31))
    )
    hourly = hourly.with_columns(pl.col("site").str.to_lowercase())
    city = hourly.group_by("period_start").agg(pl.col(c).mean() for c in POLLUTANTS)
    hourly = pl.concat([hourly, city.with_columns(pl.lit("city").alias("site"))], how="diagonal")
    daily = daily_air_values(hourly)
    report = aqi_daily(daily)
    day_rows = [
        {
            "site_id": r["site"], "scope": "city" if r["site"] == "city" else "station",
            "local_date": r["date"], "edition": r["edition"], "aqi": r["aqi"], "level": r["level"],
            "category": r["category"], "category_en": r["category_en"], "colour_hex": r["colour_hex"],
            "primary_pollutants": r["primary_pollutants"], "exceeding_pollutants": r["exceeding_pollutants"],
            **{c: r[c] for c in ("so2_24h_ugm3", "no2_24h_ugm3", "pm10_24h_ugm3", "pm25_24h_ugm3",
                                 "co_24h_mgm3", "o3_1h_max_ugm3", "o3_8h_max_ugm3")},
            "valid": r["valid"], "invalid_reasons": r["missing_indicators"], "computed_at": COMPUTED_AT,
        }
        for r in report.iter_rows(named=True)
    ]  # fmt: skip
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

    wb = openpyxl.load_workbook(out / "disclosure" / "2016-12" / "disclosure_2016-12.xlsx")
    air = list(wb["1 air"].iter_rows(min_row=3, values_only=True))
    assert air[0][0] == "city" and len(air) == 13
    for r in air:
        site, aqi_days, good_days, days = r[0], r[3], r[4], r[6:12]
        assert aqi_days == len(per_site[site]) and sum(days) == aqi_days
        assert good_days == sum(1 for a in per_site[site] if a <= 100)
    ranks = sorted(r[20] for r in air[1:] if r[20] is not None)
    assert ranks and ranks[0] == 1 and ranks == sorted(ranks)
