"""Small frame helpers shared by the derivations: local dates, editions, the `aggregates` shape."""

from __future__ import annotations

import duckdb
import polars as pl

from core.periods import local_midnight
from transforms.derive.context import Network
from transforms.standards.air_validity import by_date_expr
from transforms.standards.editions import all_editions

AGG_COLUMNS = [
    "site_id", "parameter", "statistic", "period_start", "interval_s", "value", "unit", "valid",
    "n_valid", "n_expected", "invalid_reason", "edition", "data_status",
]  # fmt: skip
UTC_US = pl.Datetime("us", "UTC")
# the rows of a day, a month or a year before `with_day_start` gives them their period_start
DAY_ROW_COLUMNS = [
    "site_id", "parameter", "statistic", "local_date", "value", "unit", "valid", "n_valid",
    "n_expected", "invalid_reason", "edition",
]  # fmt: skip
# types the parts of a derivation's rows may disagree on (an int literal, an all-null edition)
_STACK_TYPES = {"interval_s": pl.Int32, "n_valid": pl.Int32, "n_expected": pl.Int32, "edition": pl.String}


def with_local_date(
    df: pl.DataFrame, net: Network, default_tz: str, col: str = "period_start"
) -> pl.DataFrame:
    """Add `local_date`: the date of `col` in each site's own time zone ('city': default_tz)."""
    tz_of = dict(zip(net.sites["site_id"], net.sites["timezone"], strict=True))
    zones = sorted(
        {tz_of.get(s, default_tz) for s in df["site_id"].unique().to_list()} or {default_tz}
    )
    site_tz = pl.col("site_id").replace_strict(tz_of, default=default_tz, return_dtype=pl.String)
    expr = None
    for tz in zones:
        d = pl.col(col).dt.convert_time_zone(tz).dt.date()
        expr = pl.when(site_tz == tz).then(d) if expr is None else expr.when(site_tz == tz).then(d)
    assert expr is not None
    return df.with_columns(expr.alias("local_date"))


def with_day_start(df: pl.DataFrame, net: Network, default_tz: str) -> pl.DataFrame:
    """Add `period_start`: the start (UTC) of each row's `local_date` in its site's own time zone
    ('city': default_tz)."""
    tz_of = dict(zip(net.sites["site_id"], net.sites["timezone"], strict=True))
    starts = [
        local_midnight(d, tz_of.get(s, default_tz))
        for s, d in zip(df["site_id"], df["local_date"], strict=True)
    ]
    return df.with_columns(pl.Series("period_start", starts, dtype=UTC_US))


def stack_rows(parts: list[pl.DataFrame], cols: list[str]) -> pl.DataFrame | None:
    """The non-empty `parts` as one frame of columns `cols`, with the counts, `interval_s` and
    `edition` (those of `cols`) of one type; None when every part is empty."""
    casts = [pl.col(c).cast(t) for c, t in _STACK_TYPES.items() if c in cols]
    kept = [p.select(cols).with_columns(casts) for p in parts if p.height]
    return pl.concat(kept) if kept else None


def gb3095_code(date_col: str = "local_date") -> pl.Expr:
    return by_date_expr(pl.col(date_col), all_editions("GB3095"), lambda ed: ed.code)


def hj75_code(date_col: str = "local_date") -> pl.Expr:
    return by_date_expr(pl.col(date_col), all_editions("HJ75"), lambda ed: ed.code)


def with_data_status(con: duckdb.DuckDBPyConnection, df: pl.DataFrame) -> pl.DataFrame:
    """`data_status` from day_status: 'audited' when the site's local day is audited."""
    if df.height == 0:
        return df.with_columns(pl.lit("provisional").alias("data_status"))
    lo, hi = df["local_date"].min(), df["local_date"].max()
    rows = con.execute(
        "SELECT site_id, local_date FROM day_status WHERE status = 'audited' AND local_date BETWEEN ? AND ?",
        [lo, hi],
    ).fetchall()
    audited = pl.DataFrame(
        {
            "site_id": [r[0] for r in rows],
            "local_date": [r[1] for r in rows],
            "_audited": [True] * len(rows),
        },
        schema={"site_id": pl.String, "local_date": pl.Date, "_audited": pl.Boolean},
    )
    out = df.join(audited, on=["site_id", "local_date"], how="left")
    return out.with_columns(
        pl.when(pl.col("_audited"))
        .then(pl.lit("audited"))
        .otherwise(pl.lit("provisional"))
        .alias("data_status")
    ).drop("_audited")


def agg_frame(df: pl.DataFrame) -> pl.DataFrame:
    """Select and type the `aggregates` columns (value null and a reason where invalid)."""
    return df.select(
        pl.col("site_id").cast(pl.String),
        pl.col("parameter").cast(pl.String),
        pl.col("statistic").cast(pl.String),
        pl.col("period_start").cast(UTC_US),
        pl.col("interval_s").cast(pl.Int32),
        pl.when(pl.col("valid")).then(pl.col("value")).cast(pl.Float64).alias("value"),
        pl.col("unit").cast(pl.String),
        pl.col("valid").cast(pl.Boolean),
        pl.col("n_valid").cast(pl.Int32),
        pl.col("n_expected").cast(pl.Int32),
        pl.when(~pl.col("valid"))
        .then(pl.col("invalid_reason"))
        .cast(pl.String)
        .alias("invalid_reason"),
        pl.col("edition").cast(pl.String),
        pl.col("data_status").cast(pl.String),
    )


def empty_agg() -> pl.DataFrame:
    schema = {
        "site_id": pl.String, "parameter": pl.String, "statistic": pl.String, "period_start": UTC_US,
        "interval_s": pl.Int32, "value": pl.Float64, "unit": pl.String, "valid": pl.Boolean,
        "n_valid": pl.Int32, "n_expected": pl.Int32, "invalid_reason": pl.String, "edition": pl.String,
        "data_status": pl.String,
    }  # fmt: skip
    return pl.DataFrame(schema=schema)
