"""transforms.derive.water_noise: a water section's class of the period (GB 3838-2002 Table 1,
NH3-N class III <= 1.0 mg/L < class IV <= 1.5). Noise points: test_noise.py."""

from __future__ import annotations

from datetime import date

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
