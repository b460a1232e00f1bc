"""A reading converted to its site's unit: the one definition every ingest path applies.

The unit a site reports a parameter in is the registry's (`Registry.site_unit`); a value sent
in another unit of the same quantity is multiplied by `Registry.conversion_factor` and rounded
to 12 significant digits, which drops the factor's binary noise (700 ug/m3 is 0.7 mg/m3, not
0.7000000000000001; 0.1 x 3 is 0.3) and keeps every digit a sender can mean. A value already in
the site's unit is never touched. The value and its min, max and O2-corrected value are
converted; an amount over the period (-Cou: kg of a pollutant, m3 of flow) is not in the
parameter's unit and is kept as sent.

What to do when a unit does not convert is the caller's: HJ 212 keeps the code table's unit
(`conversion` gives None), an MQTT message or a file refuses the value with its reason.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from core.registry.config import Registry

# The columns a unit conversion scales (READINGS_SCHEMA): the value, min, max, O2-corrected value.
CONVERTED_COLUMNS = ("value", "value_min", "value_max", "value_zs")
SIGNIFICANT_DIGITS = 12
CACHE_ENTRIES = 100_000  # one per (site, parameter, unit): bounded over a long run

# (site_id, parameter, unit) -> (factor, the site's unit), or None when nothing is to convert
Conversion = Callable[[str, str, str], tuple[float, str] | None]


def convert_value(value: float | None, factor: float) -> float | None:
    """A value times a unit factor, rounded to 12 significant digits (the one rounding rule)."""
    return None if value is None else float(f"{value * factor:.{SIGNIFICANT_DIGITS}g}")


def convert_values(values: pl.Series, factors: pl.Series) -> pl.Series:
    """`convert_value` row by row over two columns; a null factor keeps the value as it is.
    Each distinct (value, factor) pair is computed once (readings repeat their values)."""
    pairs = pl.DataFrame(
        {"v": values.cast(pl.Float64), "f": factors.cast(pl.Float64)}
    ).with_row_index("_i")
    todo = pairs.filter(pl.col("f").is_not_null() & pl.col("v").is_not_null())
    if not todo.height:
        return values.cast(pl.Float64)
    distinct = todo.select("v", "f").unique()
    done = [convert_value(v, f) for v, f in distinct.iter_rows()]
    converted = todo.join(
        distinct.with_columns(c=pl.Series(done, dtype=pl.Float64)),
        on=["v", "f"],
        how="left",
        nulls_equal=True,
    ).select("_i", "c")
    out = pairs.join(converted, on="_i", how="left").sort("_i")
    return (
        out.select(pl.when(pl.col("f").is_null()).then(pl.col("v")).otherwise(pl.col("c")))
        .to_series()
        .alias(values.name)
    )


def unit_factor(registry: Registry, unit_from: str, unit_to: str) -> float | None:
    """The factor taking a value in `unit_from` to `unit_to`, or None when they do not convert
    (units of different quantities, or a unit the registry does not know)."""
    if not registry.convertible(unit_from, unit_to):
        return None
    return registry.conversion_factor(unit_from, unit_to)


def conversion(
    registry: Registry, site_id: str, parameter: str, unit: str
) -> tuple[float, str] | None:
    """(factor, unit) taking a reading sent in `unit` to the unit the registry gives the site's
    parameter, or None when nothing is to convert (same unit, a parameter or site the registry
    does not know, or units that do not convert)."""
    if parameter not in registry.parameters or site_id not in registry.site_ids:
        return None
    target = registry.site_unit(site_id, parameter)
    if target == unit:
        return None
    factor = unit_factor(registry, unit, target)
    return None if factor is None else (factor, target)


class SiteUnits:
    """The conversions of one registry, each looked up once: call it as a `Conversion`."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._found: dict[tuple[str, str, str], tuple[float, str] | None] = {}
        self._factors: dict[tuple[str, str], float | None] = {}

    def __call__(self, site_id: str, parameter: str, unit: str) -> tuple[float, str] | None:
        key = (site_id, parameter, unit)
        if key not in self._found:
            if len(self._found) >= CACHE_ENTRIES:
                self._found.clear()
            self._found[key] = conversion(self.registry, site_id, parameter, unit)
        return self._found[key]

    def factor(self, unit_from: str, unit_to: str) -> float | None:
        """`unit_factor`, remembered."""
        key = (unit_from, unit_to)
        if key not in self._factors:
            self._factors[key] = unit_factor(self.registry, unit_from, unit_to)
        return self._factors[key]


def convert_row(row: dict, site_conversion: Conversion) -> dict:
    """A reading (READINGS_SCHEMA dict) in its site's unit, converted in place; returned."""
    found = site_conversion(row["site_id"], row["parameter"], row["unit"])
    if found is not None:
        factor, unit = found
        for col in CONVERTED_COLUMNS:
            row[col] = convert_value(row[col], factor)
        row["unit"] = unit
    return row


def convert_table(rows: pl.DataFrame, site_conversion: Conversion) -> pl.DataFrame:
    """Readings (READINGS_SCHEMA columns) in their sites' units: `convert_row` for a table;
    only rows whose unit converts are touched."""
    if not rows.height:
        return rows
    keys = ["site_id", "parameter", "unit"]
    found = []
    for site_id, parameter, unit in rows.select(keys).unique().rows():
        got = site_conversion(site_id, parameter, unit)
        if got is not None:
            found.append((site_id, parameter, unit, got[0], got[1]))
    if not found:
        return rows
    schema = {
        "site_id": pl.String, "parameter": pl.String, "unit": pl.String,
        "_factor": pl.Float64, "_target": pl.String,
    }  # fmt: skip
    joined = rows.join(
        pl.DataFrame(found, schema=schema, orient="row"),
        on=keys,
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    factors = joined["_factor"]
    return joined.with_columns(
        *(convert_values(joined[c], factors).alias(c) for c in CONVERTED_COLUMNS),
        unit=pl.coalesce("_target", "unit"),
    ).drop("_factor", "_target")
