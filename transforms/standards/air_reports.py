"""Daily and real-time (hourly) AQI reports over polars frames, edition chosen per row by date.

Stable interfaces:
- `aqi_daily(daily, edition=None)` — daily report from `daily_air_values` output.
- `aqi_hourly(hourly, edition=None, tz=..., reading=...)` — real-time report from hourly values.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl

from transforms.standards.air_daily import DEFAULT_TZ, check_hourly, with_moving_means
from transforms.standards.air_validity import by_date_expr, gb3095_editions, min_count
from transforms.standards.aqi_frame import aqi_frame
from transforms.standards.aqi_rules import DEFAULT_READING, READINGS, check_reading, rule_set
from transforms.standards.editions import Edition, all_editions, edition_named

# Rows per chunk of whole sites in `aqi_hourly` (about 29 station-years of hours).
CHUNK_ROWS = 250_000


def _hj633_editions(edition: str | None) -> list[Edition]:
    if edition is None:
        return all_editions("HJ633")
    ed = edition_named(edition)
    if ed.family != "HJ633":
        raise ValueError(f"{edition} is not an HJ 633 edition (use e.g. HJ633-2012 or HJ633-2026)")
    return [ed]


def _in_force(ed: Edition) -> pl.Expr:
    cond = pl.col("date") >= pl.lit(ed.in_force_from)
    return cond if ed.in_force_to is None else cond & (pl.col("date") <= pl.lit(ed.in_force_to))


def _iaqi_columns(report: str) -> list[str]:
    names: dict[str, None] = {}
    for ed in all_editions("HJ633"):
        for reading in READINGS:
            for ind in rule_set(ed.code, report, reading).indicators:
                names[f"iaqi_{ind.name}"] = None
                names[f"iaqi_raw_{ind.name}"] = None
    return list(names)


def _with_all_iaqi(out: pl.LazyFrame, report: str) -> pl.LazyFrame:
    """Add the IAQI columns of the other edition or reading (null) so every result has the same
    columns."""
    cols = out.collect_schema().names()
    return out.with_columns(
        pl.lit(None, dtype=pl.Int32 if not c.startswith("iaqi_raw_") else pl.Float64).alias(c)
        for c in _iaqi_columns(report)
        if c not in cols
    )


def _single_edition(frame: pl.LazyFrame, eds: list[Edition], edition: str | None) -> Edition | None:
    """The one edition covering every row's date, if there is one (then no split is needed)."""
    if edition is not None:
        return eds[0]
    lo, hi = (
        frame.select(pl.col("date").min().alias("lo"), pl.col("date").max().alias("hi"))
        .collect()
        .row(0)
    )
    if lo is None:
        return eds[0] if eds else None
    covering = [ed for ed in eds if ed.covers(lo) and ed.covers(hi)]
    return covering[0] if len(covering) == 1 else None


def _by_edition(
    frame: pl.LazyFrame, edition: str | None, report: str, reading: str = DEFAULT_READING
) -> pl.DataFrame:
    """Split rows by the HJ 633 edition in force on their `date` (or use the named one)."""
    eds = _hj633_editions(edition)
    single = _single_edition(frame, eds, edition)
    if single is not None:  # the usual case: no row index, no split, no concat, no re-sort
        return _with_all_iaqi(aqi_frame(frame, single.code, report, reading), report).collect()
    frame = frame.with_row_index("_row")
    parts = []
    for ed in eds:
        part = frame if edition is not None else frame.filter(_in_force(ed))
        parts.append(aqi_frame(part, ed.code, report, reading))
    out = _with_all_iaqi(pl.concat(parts, how="diagonal_relaxed").sort("_row"), report)
    result = out.drop("_row").collect()
    n_in = frame.select(pl.len()).collect().item()
    if result.height != n_in:
        covered = ", ".join(f"{e.code} from {e.in_force_from}" for e in eds)
        raise ValueError(
            f"{n_in - result.height} rows have dates no HJ 633 edition covers ({covered})"
        )
    return result


def aqi_daily(daily: pl.DataFrame | pl.LazyFrame, edition: str | None = None) -> pl.DataFrame:
    """Daily AQI report (日报) per row of `daily` (output of `daily_air_values`).

    Needs `date` and the daily value columns (so2_24h_ugm3 … o3_8h_max_ugm3; null = invalid).
    `edition`: "HJ633-2012" / "HJ633-2026", None = the edition in force on each row's date.
    Adds `edition`, `iaqi_<ind>` (int, rounded up) and `iaqi_raw_<ind>` for so2, no2, pm10, pm25,
    co, o3_1h (2012 only; null for 2026), o3_8h; `aqi`, `aqi_raw`, `level`, `category`,
    `category_en`, `colour_hex`, `primary_pollutants` (';'-joined, only when AQI > 50),
    `exceeding_pollutants` (2012 only), `valid` (every indicator valid), `missing_indicators`.
    """
    return _by_edition(daily.lazy(), edition, "daily")


def hourly_report_values(
    hourly: pl.DataFrame | pl.LazyFrame, edition: str | None = None, tz: str = DEFAULT_TZ
) -> pl.LazyFrame:
    """The real-time report's concentrations per site and hour: the 1-h values (`*_1h_*`), the
    O3 8-h moving mean and the SO2/PM10/PM2.5 24-h moving means ending at that hour (null when
    the window has too few valid hours)."""
    check_hourly(hourly)
    eds = gb3095_editions(None if edition is None else edition, dt.date.today())
    local = pl.col("period_start").dt.convert_time_zone(tz)
    lf = hourly.lazy().with_columns(local.dt.date().alias("date"))
    date = pl.col("date")
    for src, out in (
        ("so2_ugm3", "so2_24h_ugm3"),
        ("pm10_ugm3", "pm10_24h_ugm3"),
        ("pm25_ugm3", "pm25_24h_ugm3"),
    ):
        need = by_date_expr(date, eds, lambda ed: min_count(ed.code, "moving_24h_mean"))
        lf = with_moving_means(lf, src, 24, out, need)
    need8 = by_date_expr(date, eds, lambda ed: min_count(ed.code, "o3_8h_moving"))
    lf = with_moving_means(lf, "o3_ugm3", 8, "o3_8h_ugm3", need8)
    return lf.rename(
        {
            "so2_ugm3": "so2_1h_ugm3",
            "no2_ugm3": "no2_1h_ugm3",
            "pm10_ugm3": "pm10_1h_ugm3",
            "pm25_ugm3": "pm25_1h_ugm3",
            "co_mgm3": "co_1h_mgm3",
            "o3_ugm3": "o3_1h_ugm3",
        }
    ).drop("n_so2_24h_ugm3", "n_pm10_24h_ugm3", "n_pm25_24h_ugm3", "n_o3_8h_ugm3")


def aqi_hourly(
    hourly: pl.DataFrame | pl.LazyFrame,
    edition: str | None = None,
    tz: str = DEFAULT_TZ,
    reading: str = DEFAULT_READING,
) -> pl.DataFrame:
    """Real-time AQI report (实时报) per site and hour.

    Input as `daily_air_values`. Output: site, period_start, date (local), the concentrations of
    `hourly_report_values`, `edition`, `realtime_reading`, `iaqi_<ind>`/`iaqi_raw_<ind>` for so2,
    no2, co, o3_1h, o3_8h, pm10, pm25 and the same AQI columns as `aqi_daily`.
    `reading` (aqi_rules): "national_practice" (default) — PM IAQI from the 1-h values against
    the 24-h breakpoints and O3 from its 1-h value only, as CNEMC published under HJ 633-2012 and
    as HJ 633-2026 writes; iaqi_o3_8h is null — or "literal", HJ 633-2012 §5 to the letter: PM
    from the 24-h moving means, plus an O3 8-h IAQI. HJ 633-2026 hours are the same under both.
    """
    check_hourly(hourly)
    check_reading(reading)
    frame = hourly.collect() if isinstance(hourly, pl.LazyFrame) else hourly
    parts = [
        _by_edition(hourly_report_values(chunk, edition, tz), edition, "hourly", reading)
        for chunk in _site_chunks(frame)
    ]
    out = parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")
    return out.with_columns(pl.lit(reading, dtype=pl.String).alias("realtime_reading"))


def _site_chunks(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """Zero-copy slices of about CHUNK_ROWS rows holding whole sites, when each site's rows are
    contiguous (then the output keeps the input's row order); else the frame itself.

    Moving means are per site, so sites are independent: working on a few sites at a time keeps
    the intermediate columns (moving sums, raw IAQIs, strings) small and cache-friendly, and the
    time linear in the number of sites."""
    if frame.height <= CHUNK_ROWS:
        return [frame]
    site = frame["site"]
    starts = pl.arg_where((site != site.shift()).fill_null(True), eager=True)
    if starts.len() != site.n_unique():
        return [frame]
    bounds, last = [0], 0
    for s in starts.to_list()[1:]:
        if s - last >= CHUNK_ROWS:
            bounds.append(s)
            last = s
    bounds.append(frame.height)
    return [frame.slice(a, b - a) for a, b in itertools.pairwise(bounds) if b > a]
