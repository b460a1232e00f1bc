"""transforms.derive.hours: the one definition of a derived hour (valid records x interval / 60
minutes against tables/hour_validity.csv: 45 minutes, GB 3095 Table 4 / HJ 75-2017) on both
sides of the minimum for 1-, 5- and 10-minute loggers, and whole hours only."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from derivedata import network

from transforms.derive.context import hour_min_minutes
from transforms.derive.hours import (
    covered_minutes,
    derived_hour_valid,
    hour_values,
    required_minutes,
)


def test_every_domain_needs_45_minutes() -> None:
    assert set(hour_min_minutes().values()) == {45}
    assert {"air", "flue_gas", "waste_water", "noise", "water", "meteo"} <= set(hour_min_minutes())


@pytest.mark.parametrize(
    ("interval_s", "enough", "short"),
    [(60, 45, 44), (300, 9, 8), (600, 5, 4)],  # 45 / 40 minutes for 5- and 10-minute records
)
def test_derived_hour_both_sides_of_the_minimum(interval_s: int, enough: int, short: int) -> None:
    df = pl.DataFrame({"n_valid": [enough, short], "interval_s": [interval_s] * 2, "domain": ["flue_gas"] * 2})
    out = df.select(
        covered_minutes(pl.col("n_valid"), pl.col("interval_s")).alias("minutes"),
        required_minutes(pl.col("domain")).alias("need"),
    ).with_columns(derived_hour_valid(pl.col("minutes"), pl.lit("flue_gas")).alias("valid"))
    assert out["need"].to_list() == [45, 45]
    assert out["valid"].to_list() == [True, False]
    assert out["minutes"][0] >= 45 > out["minutes"][1]


def test_a_domain_the_table_lacks_has_no_minimum() -> None:
    out = pl.DataFrame({"domain": ["air", "no_such_domain"]}).select(required_minutes(pl.col("domain")))
    assert out.to_series().to_list() == [45, None]


def test_hourly_ranges_need_whole_hours() -> None:
    net = network([("a1", "air")])
    lo = datetime(2024, 3, 1, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="hourly ranges need whole hours"):
        hour_values(None, net, lo.replace(minute=30), lo)  # type: ignore[arg-type]
