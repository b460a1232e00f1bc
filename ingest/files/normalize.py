"""Turn a table of strings into readings, vectorised (polars), with a reason for every bad row.

The fast path never loops over rows in Python: sites, timestamps, numbers and units are parsed
column-wise, and a row that fails gets a reason string beside it. A problem with the row as a
whole (unknown site, unparseable timestamp) makes every reading of that line bad; a problem
with one cell (unparseable number, unknown unit) makes only that reading bad, so a good
neighbour is never lost. The same key twice in a file with different values makes all its
readings bad (which one is right is not ours to guess); identical repeats collapse to one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
import pyarrow as pa

from core.registry.config import Registry
from ingest.files.profiles import Profile
from ingest.files.readers import LINE, FileRejected, RawTable
from ingest.files.units import unit_aliases
from ingest.site_units import convert_values, unit_factor
from transforms.qc.source_flags import FLAG_BELOW_DETECTION

# Tried in order when a profile gives no formats; %z forms take an explicit UTC offset.
DEFAULT_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%d %H:%M%z",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日",
)

# Internal column names (prefixed so they cannot clash with a source column).
SITE, PS, PARAM, RAW, COL, UNIT_FROM, VALUE, FLAG, EXTRA = (
    "_site", "_ps", "_param", "_raw", "_col", "_unit_from", "_value", "_flag", "_extra")
ROW_REASON, REASON = "_row_reason", "_reason"
KEY = (SITE, PARAM, PS)


@dataclass
class Normalized:
    readings: pa.Table
    bad: list[tuple[int, str]]  # (line, reason), one per bad line
    duplicates_collapsed: int  # identical repeats of a key within the file


def _missing(expr: pl.Expr, markers: list[str]) -> pl.Expr:
    return expr.is_null() | expr.is_in(markers)


def _flag_cell(column: str | None, markers: list[str]) -> pl.Expr:
    """The source's data flag of a row: null (no flag) when the profile has no flag column or the
    cell is one of the profile's missing-value markers ("NA", "/"...). An empty or blank flag is
    no flag by the reading contract (core.contract, for every ingestor), applied after this."""
    if column is None:
        return pl.lit(None, pl.String)
    cell = pl.col(column)
    return pl.when(_missing(cell, markers)).then(pl.lit(None, pl.String)).otherwise(cell)


def _site_lookup(profile: Profile, registry: Registry) -> dict[str, str]:
    """Lower-cased name as written -> site_id (the profile's names win over registry fields)."""
    lookup: dict[str, str] = {}
    for site_id in registry.site_ids:
        station = registry.stations.get(site_id)
        for key in profile.site.match:
            name = site_id if key == "site_id" else getattr(station, key, None) if station else None
            if name:
                lookup.setdefault(name.lower(), site_id)
    lookup.update({k.lower(): v for k, v in profile.site.names.items()})
    return lookup


def _parse_times(text: pl.Expr, formats: list[str], tz: str) -> pl.Expr:
    """Text -> UTC datetime; naive forms are in the profile's time zone, null when none fits."""
    text = text.str.replace(r"Z$", "+00:00")
    tried = []
    for fmt in formats:
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        if "%z" in fmt:
            tried.append(parsed.dt.convert_time_zone("UTC"))
        else:
            local = parsed.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            tried.append(local.dt.convert_time_zone("UTC"))
    return pl.coalesce(tried)


def _period_start(profile: Profile) -> tuple[pl.Expr, pl.Expr]:
    """(UTC period start, the source text shown when it does not parse)."""
    t, tz = profile.time, profile.timezone
    if t.parts is not None:
        p = t.parts
        part = {k: pl.col(p[k]) if k in p else pl.lit("0") for k in ("year", "month", "day", "hour", "minute")}
        text = pl.format("{}-{}-{} {}:{}", *part.values())
        stamp = _parse_times(text, ["%Y-%m-%d %H:%M"], tz)
    else:
        if t.column is not None:
            text = pl.col(t.column)
        else:
            assert t.date_column is not None
            date = pl.col(t.date_column)
            text = date if t.time_column is None else pl.concat_str(
                [date, pl.col(t.time_column).fill_null("00:00")], separator=" ")
        stamp = _parse_times(text, list(t.formats or DEFAULT_FORMATS), tz)
    if t.label == "end":
        stamp = stamp - pl.duration(seconds=profile.interval_s)
    return stamp, text


def _conversions(combos: pl.DataFrame, registry: Registry) -> pl.DataFrame:
    """Per distinct (site, parameter, unit as written): the site's unit and the factor to it
    (null when already in it; ingest/site_units.py), or a reason."""
    rows = []
    for site_id, parameter, written in combos.iter_rows():
        target = registry.site_unit(site_id, parameter)
        unit_from = written or target
        factor = unit_factor(registry, unit_from, target)
        if factor is None:
            rows.append((site_id, parameter, written, None, None,
                         f"unit {unit_from!r} cannot be converted to {target!r} ({parameter})"))
        else:
            rows.append((site_id, parameter, written, target,
                         None if unit_from == target else factor, None))
    schema = {SITE: pl.String, PARAM: pl.String, UNIT_FROM: pl.String, "_unit": pl.String,
              "_factor": pl.Float64, "_unit_reason": pl.String}
    return pl.DataFrame(rows, schema=schema, orient="row")


def _cells(df: pl.DataFrame, profile: Profile, registry: Registry) -> pl.DataFrame:
    """One row per candidate reading: line, site, period, parameter, raw value, unit as written."""
    if profile.layout == "wide":
        units = unit_aliases(registry, profile.unit_aliases)
        index = [c for c in df.columns if c not in {v.column for v in profile.values}]
        long = df.unpivot(index=index, on=[v.column for v in profile.values], variable_name=COL, value_name=RAW)
        by_col = {v.column: v for v in profile.values}
        return long.with_columns(
            pl.col(COL).replace_strict({c: v.parameter for c, v in by_col.items()}).alias(PARAM),
            pl.col(COL).replace_strict({c: units[v.unit] for c, v in by_col.items()}).alias(UNIT_FROM),
            _flag_cell(profile.flag_column, profile.missing_values).alias(FLAG),
        )
    lg = profile.long
    assert lg is not None
    params = {p.lower(): p for p in registry.parameters}
    params.update({k.lower(): v for k, v in lg.parameters.items()})
    written = pl.col(lg.parameter_column)
    if lg.unit_column is not None:
        units = {k.lower(): v for k, v in unit_aliases(registry).items()}
        units.update({k.lower(): v for k, v in profile.unit_aliases.items()})
        unit = pl.col(lg.unit_column).str.to_lowercase().replace_strict(units, default=None, return_dtype=pl.String)
        unit_reason = (pl.when(_missing(pl.col(lg.unit_column), profile.missing_values)).then(pl.lit("no unit"))
                       .when(unit.is_null()).then(pl.format("unknown unit '{}'", pl.col(lg.unit_column))))
    else:
        # no unit given: values are in the registry's unit for the site ("" -> resolved in _conversions)
        unit = pl.lit(unit_aliases(registry, profile.unit_aliases).get(lg.unit, "") if lg.unit else "", pl.String)
        unit_reason = pl.lit(None, pl.String)
    param = written.str.to_lowercase().replace_strict(params, default=None, return_dtype=pl.String)
    param_reason = (pl.when(_missing(written, profile.missing_values)).then(pl.lit("no parameter"))
                    .when(param.is_null()).then(pl.format("unknown parameter '{}'", written)))
    return df.with_columns(
        param.alias(PARAM),
        pl.col(lg.value_column).alias(RAW),
        pl.lit(lg.value_column).alias(COL),
        unit.alias(UNIT_FROM),
        _flag_cell(lg.flag_column, profile.missing_values).alias(FLAG),
        pl.concat_str([pl.col(ROW_REASON), param_reason, unit_reason], separator="; ", ignore_nulls=True)
        .replace("", None).alias(ROW_REASON),
    )


def _values(cells: pl.DataFrame, profile: Profile) -> pl.DataFrame:
    """Raw text -> float; a below-detection marker keeps the limit as the value, flagged BDL."""
    raw = pl.col(RAW).str.strip_chars()
    number, bdl = raw, pl.lit(False)
    for marker in profile.below_detection:
        # a marker made of letters is a suffix ("0.01L", the GB/HJ convention); otherwise a prefix ("<0.01")
        hit = raw.str.ends_with(marker) if marker.isalpha() else raw.str.starts_with(marker)
        bdl = bdl | hit
        number = pl.when(hit).then(
            number.str.strip_suffix(marker) if marker.isalpha() else number.str.strip_prefix(marker)
        ).otherwise(number)
    value = number.str.strip_chars().cast(pl.Float64, strict=False)
    value = pl.when(value.is_finite()).then(value)
    return cells.with_columns(
        value.alias(VALUE),
        pl.when(bdl).then(pl.lit(FLAG_BELOW_DETECTION)).otherwise(pl.col(FLAG)).alias(FLAG),
    ).with_columns(
        pl.when(pl.col(VALUE).is_null()).then(pl.format("unparseable number '{}' in column {}", pl.col(RAW), pl.col(COL)))
        .alias("_value_reason")
    )


def normalize(
    raw: RawTable, profile: Profile, registry: Registry, *, origin: str, received_at: datetime
) -> Normalized:
    df = raw.df
    missing_cols = [c for c in profile.required_columns() if c not in df.columns]
    if missing_cols:
        present = [c for c in df.columns if c != LINE]
        raise FileRejected(f"missing column(s) {', '.join(map(repr, missing_cols))} needed by profile "
                           f"{profile.name!r}; columns present: {', '.join(present)}")
    used = profile.required_columns()
    markers = profile.missing_values
    df = df.select([pl.col(c).str.strip_chars() for c in used] + [pl.col(LINE)])
    # rows with nothing in any column we read (blank lines, trailing empty rows) are not rows
    df = df.filter(~pl.all_horizontal([_missing(pl.col(c), [""]) for c in used]))

    site_col = pl.col(profile.site.column)
    site = site_col.str.to_lowercase().replace_strict(_site_lookup(profile, registry), default=None,
                                                      return_dtype=pl.String)
    stamp, stamp_text = _period_start(profile)
    site_reason = (pl.when(_missing(site_col, markers)).then(pl.lit("no site"))
                   .when(site.is_null()).then(pl.format("unknown site '{}'", site_col)))
    time_reason = pl.when(stamp.is_null()).then(pl.format("unparseable timestamp '{}'", stamp_text))
    extra = (pl.struct([pl.col(c).alias(k) for c, k in profile.extra.items()]).struct.json_encode()
             if profile.extra else pl.lit(None, pl.String))
    df = df.with_columns(
        site.alias(SITE), stamp.alias(PS), extra.alias(EXTRA),
        pl.concat_str([site_reason, time_reason], separator="; ", ignore_nulls=True).replace("", None).alias(ROW_REASON),
    )

    cells = _cells(df, profile, registry)
    # a missing value is no reading at all, unless the row is bad anyway (then it is reported)
    cells = cells.filter(~_missing(pl.col(RAW), markers) | pl.col(ROW_REASON).is_not_null())
    cells = _values(cells, profile)
    combos = cells.filter(pl.col(SITE).is_not_null() & pl.col(PARAM).is_not_null() & pl.col(UNIT_FROM).is_not_null())
    combos = combos.select(SITE, PARAM, UNIT_FROM).unique()
    cells = cells.join(_conversions(combos, registry), on=[SITE, PARAM, UNIT_FROM], how="left")
    cells = cells.with_columns(
        pl.when(pl.col(ROW_REASON).is_not_null()).then(pl.col(ROW_REASON))
        .otherwise(pl.concat_str([pl.col("_value_reason"), pl.col("_unit_reason")], separator="; ", ignore_nulls=True)
                   .replace("", None)).alias(REASON)
    )
    good = cells.filter(pl.col(REASON).is_null())
    bad = cells.filter(pl.col(REASON).is_not_null()).select(LINE, REASON)
    good, conflicts, collapsed = _duplicates(good)
    bad = pl.concat([bad, conflicts])
    bad_lines = (bad.group_by(LINE).agg(pl.col(REASON).unique(maintain_order=True).str.join("; "))
                 .sort(LINE).iter_rows())
    return Normalized(_readings(good, profile, origin, received_at), list(bad_lines), collapsed)


def _duplicates(good: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """Split repeated keys: identical repeats collapse to the first; differing ones are all bad."""
    dup = good.select(pl.struct(KEY).is_duplicated()).to_series()
    if not dup.any():
        return good, pl.DataFrame(schema={LINE: pl.Int64, REASON: pl.String}), 0
    repeated = good.filter(dup)
    per_key = repeated.group_by(KEY).agg(
        pl.struct(VALUE, FLAG).n_unique().alias("_variants"), pl.col(LINE).unique().sort().alias("_lines"))
    clash = per_key.filter(pl.col("_variants") > 1)
    conflicts = (
        repeated.join(clash, on=list(KEY), how="inner")
        .select(LINE, pl.format("same site, parameter and time as line(s) {} with a different value",
                                pl.col("_lines").cast(pl.List(pl.String)).list.join(", ")).alias(REASON))
    )
    good = good.join(clash.select(KEY), on=list(KEY), how="anti")
    before = good.height
    good = good.unique(subset=list(KEY), keep="first", maintain_order=True)
    return good, conflicts, before - good.height


def _readings(good: pl.DataFrame, profile: Profile, origin: str, received_at: datetime) -> pa.Table:
    good = good.with_columns(convert_values(good[VALUE], good["_factor"]).alias(VALUE))
    return good.select(
        pl.col(SITE).alias("site_id"),
        pl.col(PARAM).alias("parameter"),
        pl.col(PS).alias("period_start"),
        pl.lit(profile.interval_s, pl.Int32).alias("interval_s"),
        pl.lit(profile.source_kind).alias("source_kind"),
        pl.col(VALUE).alias("value"),
        pl.col("_unit").alias("unit"),
        pl.col(FLAG).alias("flag"),
        pl.lit(received_at).dt.replace_time_zone("UTC").dt.cast_time_unit("us").alias("received_at"),
        pl.format("{}:{}", pl.lit(origin), pl.col(LINE)).alias("origin"),
        pl.col(EXTRA).alias("extra"),
    ).to_arrow()
