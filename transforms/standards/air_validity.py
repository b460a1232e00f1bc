"""Validity thresholds of air statistics per GB 3095 edition (data: tables/air_validity.csv),
and expressions that pick the threshold in force for each row's date."""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.standards import tables
from transforms.standards.editions import Edition, all_editions, resolve

POLLUTANT_COLUMNS = {
    "so2": "so2_ugm3",
    "no2": "no2_ugm3",
    "pm10": "pm10_ugm3",
    "pm25": "pm25_ugm3",
    "co": "co_mgm3",
    "o3": "o3_ugm3",
}
DAILY_MEAN_POLLUTANTS = ("so2", "no2", "pm10", "pm25", "co")


def min_count(edition: str, statistic: str) -> int:
    return int(tables.one("air_validity", edition=edition, statistic=statistic)["min_count"])


def gb3095_editions(edition: str | None, when: dt.date) -> list[Edition]:
    """The GB 3095 edition(s) to use: the named one (or its companion), else all of them
    (the expressions below then choose per row by date)."""
    if edition is not None:
        return [resolve(edition, when, "GB3095")]
    return all_editions("GB3095")


def by_date_expr(date: pl.Expr, eds: list[Edition], value_of) -> pl.Expr:
    """`value_of(edition)` for the edition in force on each row's date.

    Rows whose date no edition covers get null (callers report them as errors).
    """
    if len(eds) == 1:
        return pl.lit(value_of(eds[0]))
    chain = None
    for ed in eds:
        cond = date >= pl.lit(ed.in_force_from)
        if ed.in_force_to is not None:
            cond = cond & (date <= pl.lit(ed.in_force_to))
        chain = (
            pl.when(cond).then(pl.lit(value_of(ed)))
            if chain is None
            else chain.when(cond).then(pl.lit(value_of(ed)))
        )
    assert chain is not None
    return chain.otherwise(None)
