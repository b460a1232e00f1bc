"""transforms.derive.noise: noise_daily rows of ambient points (GB 3096-2008 Table 1, zone 1:
day 55, night 45 dB(A)) and of enterprises' boundary points (GB 12348-2008 Table 1 by the zone
outside the boundary, indoors - 10 dB(A), night Lmax <= limit + 10 frequent / + 15 sporadic;
noise.md §2-§3); the night of D runs 22:00 D .. 06:00 D+1 and Ld / Ln need all 16 / 8 hours
(tables/noise_rules.csv)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from derivedata import network

from transforms.derive import noise

TZ = "Asia/Shanghai"
DAY = date(2024, 3, 1)
BASE = network(
    [("n1", "noise"), ("n2", "noise"), ("b1", "noise"), ("b2", "noise"), ("b3", "noise"), ("a1", "air")],
    noise_zone={"n1": "1", "b1": "4a", "b2": "2", "b3": "3"},
)  # fmt: skip
# boundary points: b1 zone 4a outside (class 4), frequent noise; b2 indoors in zone 2; b3 no Lmax rule
POINTS = pl.DataFrame(
    [("b1", "yizhuang_auto", "GB12348-2008", False, "frequent"),
     ("b2", "yanshan_petrochem", "GB12348-2008", True, "frequent"),
     ("b3", "liulihe_cement", "GB12348-2008", False, None)],
    schema={"site_id": pl.String, "enterprise_id": pl.String, "noise_standard": pl.String,
            "noise_indoor": pl.Boolean, "night_sudden_noise": pl.String},
    orient="row",
)  # fmt: skip
NET = replace(BASE, sites=BASE.sites.join(POINTS, on="site_id", how="left"))


def _hours(site: str, day_level: float, night_level: float, *, lmax: float | None = None,
           night_hours: int = 8) -> pl.DataFrame:  # fmt: skip
    local = [datetime(2024, 3, 1, 6, tzinfo=ZoneInfo(TZ)) + timedelta(hours=h) for h in range(24)]
    rows = []
    for h, t in enumerate(local):
        if h >= 16 + night_hours:
            continue
        utc = t.astimezone(ZoneInfo("UTC"))
        rows.append((site, "leq", utc, day_level if h < 16 else night_level))
        if lmax is not None and h >= 16:
            rows.append((site, "lmax", utc, lmax))
    return pl.DataFrame(
        rows,
        schema={"site_id": pl.String, "parameter": pl.String, "period_start": pl.Datetime("us", "UTC"),
                "value": pl.Float64},
        orient="row",
    )  # fmt: skip


def _row(rows: pl.DataFrame, site: str) -> dict:  # type: ignore[type-arg]
    return rows.filter(pl.col("site_id") == site).row(0, named=True)


def test_ambient_point_against_zone_1_and_the_hours_counted() -> None:
    rows = noise.noise_rows(_hours("n1", 56.0, 45.0), NET, DAY, TZ)
    assert rows.columns == noise.NOISE_COLUMNS
    assert rows["site_id"].to_list() == ["b1", "b2", "b3", "n1"]  # n2 has no zone: no row
    r = _row(rows, "n1")
    assert (r["zone"], r["standard"], r["ld_limit_dba"], r["ln_limit_dba"]) == (
        "1",
        "GB3096-2008",
        55.0,
        45.0,
    )
    assert (r["ld_dba"], r["day_exceeds"]) == (56.0, True)
    assert (r["ln_dba"], r["night_exceeds"]) == (45.0, False)  # at the limit: not exceeded
    assert (r["n_day_hours"], r["n_night_hours"]) == (16, 8)
    assert (r["enterprise_id"], r["indoor"], r["night_max_limit_dba"]) == (None, False, 60.0)


def test_a_point_without_hours_gets_a_row_saying_why() -> None:
    r = _row(noise.noise_rows(_hours("n1", 56.0, 45.0).head(0), NET, DAY, TZ), "n1")
    assert (r["ld_dba"], r["ln_dba"], r["n_day_hours"]) == (None, None, 0)
    assert r["ld_missing_reason"] == "0 of 16 day-time hours valid, 16 required"
    assert r["ln_missing_reason"] == "0 of 8 night-time hours valid, 8 required"


def test_a_night_of_7_hours_has_no_ln_and_says_why() -> None:
    r = _row(noise.noise_rows(_hours("n1", 50.0, 60.0, night_hours=7), NET, DAY, TZ), "n1")
    assert (r["ln_dba"], r["night_exceeds"], r["n_night_hours"]) == (None, None, 7)
    assert (r["n_day_hours_required"], r["n_night_hours_required"]) == (16, 8)
    assert r["ln_missing_reason"] == "7 of 8 night-time hours valid, 8 required"


def test_boundary_point_zone_4_frequent_noise() -> None:
    # class 4 outside the boundary: 70 / 55; frequent night noise: Lmax <= 55 + 10 = 65
    at = _row(noise.noise_rows(_hours("b1", 70.0, 55.0, lmax=65.0), NET, DAY, TZ), "b1")
    assert (at["standard"], at["enterprise_id"], at["zone"]) == (
        "GB12348-2008",
        "yizhuang_auto",
        "4a",
    )
    assert (at["ld_limit_dba"], at["ln_limit_dba"], at["night_max_limit_dba"]) == (70.0, 55.0, 65.0)
    assert (at["day_exceeds"], at["night_exceeds"], at["night_max_exceeds"]) == (
        False,
        False,
        False,
    )
    above = _row(noise.noise_rows(_hours("b1", 70.1, 55.1, lmax=65.1), NET, DAY, TZ), "b1")
    assert (above["day_exceeds"], above["night_exceeds"], above["night_max_exceeds"]) == (
        True,
        True,
        True,
    )
    assert above["night_sudden_noise"] == "frequent"


def test_boundary_point_indoors_limits_10_lower() -> None:
    # zone 2 indoors: 60 - 10 = 50 by day, 50 - 10 = 40 at night, Lmax <= 40 + 10
    at = _row(noise.noise_rows(_hours("b2", 50.0, 40.0, lmax=50.0), NET, DAY, TZ), "b2")
    assert (at["indoor"], at["ld_limit_dba"], at["ln_limit_dba"], at["night_max_limit_dba"]) == (
        True,
        50.0,
        40.0,
        50.0,
    )
    assert (at["day_exceeds"], at["night_exceeds"], at["night_max_exceeds"]) == (
        False,
        False,
        False,
    )
    above = _row(noise.noise_rows(_hours("b2", 50.1, 40.1, lmax=50.1), NET, DAY, TZ), "b2")
    assert (above["day_exceeds"], above["night_exceeds"], above["night_max_exceeds"]) == (
        True,
        True,
        True,
    )


def test_boundary_point_without_a_kind_of_sudden_noise_is_not_judged_on_lmax() -> None:
    r = _row(noise.noise_rows(_hours("b3", 60.0, 50.0, lmax=95.0), NET, DAY, TZ), "b3")
    assert (r["ld_limit_dba"], r["ln_limit_dba"], r["night_exceeds"]) == (65.0, 55.0, False)
    assert (r["lmax_night_dba"], r["night_max_limit_dba"], r["night_max_exceeds"]) == (
        95.0,
        None,
        None,
    )


def test_a_network_without_the_boundary_columns_is_all_ambient() -> None:
    # a registry stored before migration 0096: every point is a GB 3096 one
    rows = noise.noise_rows(_hours("n1", 56.0, 45.0), BASE, DAY, TZ)
    assert set(rows["standard"]) == {"GB3096-2008"} and rows["indoor"].to_list() == [False] * 4
