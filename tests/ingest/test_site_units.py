"""ingest.site_units: a reading converted to its site's unit, one rule for every ingest path."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from core.registry.config import Registry, load_registry
from ingest.site_units import (
    CONVERTED_COLUMNS,
    SiteUnits,
    conversion,
    convert_row,
    convert_table,
    convert_value,
    convert_values,
    unit_factor,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CONFIG)


def a_site_and_parameter(registry: Registry, unit: str) -> tuple[str, str]:
    """A station measuring some parameter in `unit` (from the demo registry)."""
    for site_id in sorted(registry.stations):
        for measured in registry.site_parameters(site_id):
            if registry.site_unit(site_id, measured.parameter) == unit:
                return site_id, measured.parameter
    pytest.skip(f"no site of the demo registry reports in {unit}")


def test_the_rounding_rule_is_twelve_significant_digits() -> None:
    assert convert_value(700.0, 0.001) == 0.7  # not 0.7000000000000001
    assert convert_value(0.1, 3.0) == 0.3  # not 0.30000000000000004
    assert convert_value(1.0, 1 / 3.6) == 0.277777777778  # 12 significant digits
    assert convert_value(123456789012.0, 1.0) == 123456789012.0  # 12 digits: kept
    assert convert_value(1234567890123.0, 1.0) == 1234567890120.0  # the 13th is rounded
    assert convert_value(None, 1000.0) is None
    assert convert_value(0.0, 1000.0) == 0.0


def test_convert_values_is_the_same_rule_row_by_row() -> None:
    values = pl.Series("value", [0.1, None, 700.0, 5.123456789012345, 0.1, float("inf")])
    factors = pl.Series([3.0, 3.0, 0.001, None, None, 2.0])
    got = convert_values(values, factors)
    # a null factor keeps the value exactly (13+ digits too); a null value stays null
    assert got.to_list() == [0.3, None, 0.7, 5.123456789012345, 0.1, float("inf")]
    assert got.name == "value"
    assert (
        convert_values(pl.Series("v", [], dtype=pl.Float64), pl.Series([], dtype=pl.Float64)).len()
        == 0
    )


def test_unit_factor_and_conversion(registry: Registry) -> None:
    assert unit_factor(registry, "ug/m3", "mg/m3") == 0.001
    assert unit_factor(registry, "mg/m3", "mg/m3") == 1.0
    assert unit_factor(registry, "mg/m3", "mg/L") is None  # gas vs liquid: not one quantity
    assert unit_factor(registry, "furlong", "mg/m3") is None  # not a registry unit
    site, parameter = a_site_and_parameter(registry, "mg/m3")
    assert conversion(registry, site, parameter, "ug/m3") == (0.001, "mg/m3")
    assert conversion(registry, site, parameter, "mg/m3") is None  # already the site's unit
    assert conversion(registry, site, parameter, "mg/L") is None  # does not convert: kept
    assert conversion(registry, "no-such-site", parameter, "ug/m3") is None
    assert conversion(registry, site, "no-such-parameter", "ug/m3") is None


def test_site_units_remembers_and_converts_a_row(registry: Registry) -> None:
    site, parameter = a_site_and_parameter(registry, "mg/m3")
    units = SiteUnits(registry)
    assert units(site, parameter, "ug/m3") == (0.001, "mg/m3")
    assert units(site, parameter, "ug/m3") is units(site, parameter, "ug/m3")  # looked up once
    assert units.factor("ug/m3", "mg/m3") == 0.001 and units.factor("mg/m3", "dB(A)") is None
    row = {"site_id": site, "parameter": parameter, "unit": "ug/m3", "value": 700.0,
           "value_min": 100.0, "value_max": None, "value_zs": 1500.0, "value_cou": 2.5}  # fmt: skip
    assert convert_row(row, units) is row
    assert row == {"site_id": site, "parameter": parameter, "unit": "mg/m3", "value": 0.7,
                   "value_min": 0.1, "value_max": None, "value_zs": 1.5, "value_cou": 2.5}  # fmt: skip
    same = {"site_id": site, "parameter": parameter, "unit": "mg/m3", "value": 1.0000000000001,
            "value_min": None, "value_max": None, "value_zs": None}  # fmt: skip
    assert convert_row(same, units)["value"] == 1.0000000000001  # not converted: not rounded


def test_convert_table_touches_only_rows_whose_unit_converts() -> None:
    rows = pl.DataFrame(
        {
            "site_id": ["a", "a", "b", "a"], "parameter": ["so2", "nox", "so2", "so2"],
            "unit": ["mg/m3", "mg/m3", "mg/m3", "ug/m3"], "value": [1.2, 3.0, 5.0, 7.0],
            "value_min": [1.0, None, 5.0, None], "value_max": [1.5, None, 5.0, None],
            "value_zs": [1.8, None, None, None], "value_cou": [0.25, 0.5, 0.75, 1.0],
        }
    )  # fmt: skip
    table = {("a", "so2", "mg/m3"): (1000.0, "ug/m3")}
    out = convert_table(rows, lambda *key: table.get(key))
    assert out.columns == rows.columns and out.schema == rows.schema
    assert out.row(0, named=True) == {
        "site_id": "a", "parameter": "so2", "unit": "ug/m3", "value": 1200.0, "value_min": 1000.0,
        "value_max": 1500.0, "value_zs": 1800.0, "value_cou": 0.25,
    }  # fmt: skip
    assert out.rows()[1:] == rows.rows()[1:]  # the others as they were, in their order
    assert convert_table(rows.clear(), lambda *key: table.get(key)).height == 0
    assert set(CONVERTED_COLUMNS) == {"value", "value_min", "value_max", "value_zs"}
