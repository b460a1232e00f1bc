"""Invariants on the real Beijing PRSA data (12 stations, 2013-03..2017-02, CO ÷ 1000)."""

from __future__ import annotations

import polars as pl
import pytest

from transforms.standards import aqi_daily, aqi_hourly, daily_air_values
from transforms.standards.aqi import aqi_report

pytestmark = pytest.mark.slow
POLLUTANTS = ["so2_ugm3", "no2_ugm3", "pm10_ugm3", "pm25_ugm3", "co_mgm3", "o3_ugm3"]


@pytest.fixture(scope="module")
def daily(beijing_hourly):
    return daily_air_values(beijing_hourly)


@pytest.mark.parametrize("edition", ["HJ633-2012", "HJ633-2026"])
def test_daily_invariants(daily, edition):
    rep = aqi_daily(daily, edition=edition)
    assert rep["site"].n_unique() == 12 and rep.height == 12 * 1461
    iaqi = [c for c in rep.columns if c.startswith("iaqi_") and not c.startswith("iaqi_raw_")]
    best = rep.select(pl.max_horizontal(iaqi)).to_series()
    has = rep["aqi"].is_not_null()
    assert (rep["aqi"].filter(has) == best.filter(has)).all()  # AQI = the largest IAQI
    assert rep.filter(pl.col("primary_pollutants").is_not_null())["aqi"].min() > 50
    assert rep.filter(has & (pl.col("aqi") > 50))["primary_pollutants"].null_count() == 0
    assert (
        rep.filter(has & (pl.col("aqi") <= 50))["primary_pollutants"].null_count()
        == rep.filter(has & (pl.col("aqi") <= 50)).height
    )
    assert rep.filter(pl.col("valid"))["aqi"].null_count() == 0


def test_every_invalid_day_is_explained_by_missing_hours(beijing_hourly, daily):
    # recount the raw hours independently, per site and local day
    counts = (
        beijing_hourly.with_columns(pl.col("period_start").dt.date().alias("date"))
        .group_by("site", "date")
        .agg([pl.col(c).count().alias(c) for c in POLLUTANTS])
    )
    invalid = daily.filter(pl.col("invalid_reasons").is_not_null()).join(
        counts, on=["site", "date"]
    )
    assert invalid.height > 100
    complete = pl.all_horizontal(pl.col(c) == 24 for c in POLLUTANTS)
    assert invalid.filter(complete).height == 0  # no invalid day has all 24 hours of all pollutants
    for row in invalid.iter_rows(named=True):
        for reason in row["invalid_reasons"].split("; "):
            name, rest = reason.split(": ")
            n = int(rest.split()[0])
            if "hours" in rest:
                col = {"o3_1h": "o3_ugm3", "co": "co_mgm3"}.get(name, f"{name}_ugm3")
                assert n == row[col] < 20, (row["site"], row["date"], reason)
            else:
                assert n < 14 and row["o3_ugm3"] < 24, (row["site"], row["date"], reason)
    valid = daily.filter(pl.col("invalid_reasons").is_null()).join(counts, on=["site", "date"])
    assert valid.filter(pl.any_horizontal(pl.col(c) < 20 for c in POLLUTANTS)).height == 0


@pytest.mark.parametrize("edition", ["HJ633-2012", "HJ633-2026"])
def test_scalar_and_vectorised_agree(daily, edition):
    rep = aqi_daily(daily, edition=edition)
    sample = rep.gather_every(37)
    cols = [
        "so2_24h_ugm3",
        "no2_24h_ugm3",
        "pm10_24h_ugm3",
        "pm25_24h_ugm3",
        "co_24h_mgm3",
        "o3_1h_max_ugm3",
        "o3_8h_max_ugm3",
    ]
    src = daily.join(sample.select("site", "date"), on=["site", "date"])
    assert src.height == sample.height
    by_key = {(r["site"], r["date"]): r for r in sample.iter_rows(named=True)}
    for row in src.iter_rows(named=True):
        res = aqi_report({c: row[c] for c in cols}, edition, "daily")
        vec = by_key[(row["site"], row["date"])]
        assert vec["aqi"] == res.aqi
        assert (vec["primary_pollutants"] or "") == ";".join(res.primary_pollutants)
        for name, r in res.iaqi.items():
            assert vec[f"iaqi_{name}"] == r.value


def test_hourly_invariants(beijing_hourly):
    rep = aqi_hourly(beijing_hourly.filter(pl.col("site").is_in(["Dongsi", "Huairou"])))
    iaqi = [c for c in rep.columns if c.startswith("iaqi_") and not c.startswith("iaqi_raw_")]
    has = rep["aqi"].is_not_null()
    assert has.sum() > 0.8 * rep.height
    best = rep.select(pl.max_horizontal(iaqi)).to_series()
    assert (rep["aqi"].filter(has) == best.filter(has)).all()
    assert rep.filter(pl.col("primary_pollutants").is_not_null())["aqi"].min() > 50


def test_row_order_does_not_matter(beijing_hourly, daily):
    shuffled = beijing_hourly.sample(fraction=1.0, shuffle=True, seed=20130301)
    again = daily_air_values(shuffled)
    assert again["invalid_reasons"].equals(daily["invalid_reasons"])
    for col in ("pm25_24h_ugm3", "o3_8h_max_ugm3", "co_24h_mgm3"):
        assert again[col].null_count() == daily[col].null_count()
        assert ((again[col] - daily[col]).abs().max() or 0.0) < 1e-9
