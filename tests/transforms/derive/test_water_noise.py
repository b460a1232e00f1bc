"""transforms.derive.water_noise: a water section's class of the period (GB 3838-2002 Table 1,
NH3-N class III <= 1.0 mg/L < class IV <= 1.5) and a noise point's day and night levels
against its zone (GB 3096-2008 Table 1, zone 1: day 55, night 45 dB(A); the night of D runs
22:00 D .. 06:00 D+1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from derivedata import network

from transforms.derive import water_noise

TZ = "Asia/Shanghai"
DAY = date(2024, 3, 1)
NET = network(
    [("w1", "water"), ("w2", "water"), ("n1", "noise"), ("n2", "noise"), ("a1", "air")],
    noise_zone={"n1": "1"},
    water={"w1": ("river", "III"), "w2": ("river", "III")},
)


def _means(nh3n: float) -> pl.DataFrame:
    return pl.DataFrame(
        {"site_id": ["w1"], "parameter": ["nh3n"], "value": [nh3n], "n_valid": [6], "n_values": [6],
         "unit": ["mg/L"]},
    )  # fmt: skip


@pytest.mark.parametrize(("nh3n", "cls", "compliant"), [(1.0, "III", True), (1.2, "IV", False)])
def test_water_class_both_sides_of_the_class_iii_limit(nh3n: float, cls: str, compliant: bool) -> None:
    rows = water_noise.water_rows(_means(nh3n), NET, "day", DAY)
    assert rows.columns == water_noise.WATER_COLUMNS
    assert rows["site_id"].to_list() == ["w1", "w2"]  # every section, with or without values
    w1, w2 = rows.iter_rows(named=True)
    assert (w1["period"], w1["period_start"], w1["water_class"], w1["target_class"]) == ("day", DAY, cls, "III")
    assert w1["compliant"] is compliant and w1["n_parameters"] == 1
    assert w2["water_class"] is None and w2["compliant"] is None  # no valid value: no class


def _noise_hours(day_level: float, night_level: float) -> pl.DataFrame:
    local = [datetime(2024, 3, 1, 6, tzinfo=ZoneInfo(TZ)) + timedelta(hours=h) for h in range(24)]
    rows = [("n1", "leq", t.astimezone(ZoneInfo("UTC")), day_level if t.hour in range(6, 22) else night_level)
            for t in local]  # fmt: skip
    return pl.DataFrame(
        rows,
        schema={"site_id": pl.String, "parameter": pl.String, "period_start": pl.Datetime("us", "UTC"),
                "value": pl.Float64},
        orient="row",
    )  # fmt: skip


def test_noise_levels_against_zone_1_and_the_hours_counted() -> None:
    rows = water_noise.noise_rows(_noise_hours(56.0, 45.0), NET, DAY, TZ)
    assert rows.columns == water_noise.NOISE_COLUMNS
    assert rows["site_id"].to_list() == ["n1"]  # n2 has no zone: no row
    r = rows.row(0, named=True)
    assert (r["zone"], r["standard"], r["ld_limit_dba"], r["ln_limit_dba"]) == ("1", "GB3096-2008", 55.0, 45.0)
    assert (r["ld_dba"], r["day_exceeds"]) == (56.0, True)
    assert (r["ln_dba"], r["night_exceeds"]) == (45.0, False)  # at the limit: not exceeded
    assert (r["n_day_hours"], r["n_night_hours"]) == (16, 8)


def test_a_zone_point_without_hours_gets_a_row_without_levels() -> None:
    empty = _noise_hours(56.0, 45.0).head(0)
    r = water_noise.noise_rows(empty, NET, DAY, TZ).row(0, named=True)
    assert (r["site_id"], r["ld_dba"], r["ln_dba"], r["n_day_hours"]) == ("n1", None, None, 0)
