"""Staff calculators: CSV in, a table out, the same functions the pipeline uses.

Each `*_table` function reads an input file, checks it line by line (errors name the file, line,
column and reason and raise EnvmonError), runs the standard's calculation and returns a `Table`:
the output columns (named in the project vocabulary) and text cells; every output row that has
no value or is not valid says why in words in its `reason` column. `to_csv(table)` is the plain
CSV (bare column names); the command line writes the published form (BOM, bilingual headers).
`*_csv` = `to_csv(*_table(...))`.

Input text: UTF-8 (with or without BOM) or else GB18030 (a superset of GBK, what Chinese Excel
saves as "CSV"); blank values are missing. Input `period_start` (air, noise): ISO 8601, start of
the hour; without an offset it is local time in `tz` (the command line passes the settings'
zone), with an offset (`+08:00`, `Z`) it is taken as given (`core.periods.from_local_input`).
Emissions records must carry their offset.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from core.errors import EnvmonError
from core.periods import from_local_input
from core.spreadsheet import safe_cell
from transforms.standards import tables
from transforms.standards.air_daily import DEFAULT_TZ, daily_air_values, with_moving_means
from transforms.standards.air_reports import aqi_daily, aqi_hourly
from transforms.standards.aqi_rules import DEFAULT_READING, READINGS, Indicator, rule_set
from transforms.standards.editions import all_editions
from transforms.standards.emissions import hourly_emissions
from transforms.standards.noise import noise_levels, zone_limits
from transforms.standards.water import WATERBODIES, input_columns, limits, water_class

AIR_INPUT = (
    "site",
    "period_start",
    "so2_ugm3",
    "no2_ugm3",
    "pm10_ugm3",
    "pm25_ugm3",
    "co_mgm3",
    "o3_ugm3",
)
AQI_DAILY_OUTPUT = (
    "site", "date", "edition", "aqi", "level", "category", "primary_pollutants",
    "iaqi_so2", "iaqi_no2", "iaqi_pm10", "iaqi_pm25", "iaqi_co", "iaqi_o3_1h", "iaqi_o3_8h",
    "so2_24h_ugm3", "no2_24h_ugm3", "pm10_24h_ugm3", "pm25_24h_ugm3", "co_24h_mgm3",
    "o3_1h_max_ugm3", "o3_8h_max_ugm3", "valid", "reason",
)  # fmt: skip
AQI_HOURLY_OUTPUT = (
    "site", "period_start", "edition", "aqi", "level", "category", "primary_pollutants",
    "iaqi_so2", "iaqi_no2", "iaqi_pm10", "iaqi_pm25", "iaqi_co", "iaqi_o3_1h", "iaqi_o3_8h",
    "so2_1h_ugm3", "no2_1h_ugm3", "pm10_1h_ugm3", "pm25_1h_ugm3", "co_1h_mgm3", "o3_1h_ugm3",
    "o3_8h_ugm3", "so2_24h_ugm3", "pm10_24h_ugm3", "pm25_24h_ugm3", "realtime_reading", "valid",
    "reason",
)  # fmt: skip
NOISE_INPUT = ("site", "zone", "period_start", "leq_dba")
NOISE_OUTPUT = (
    "site", "date", "zone", "ld_dba", "ln_dba", "ld_limit_dba", "ln_limit_dba", "day_exceeds", "night_exceeds",
    "n_day_hours", "n_night_hours", "reason",
)  # fmt: skip
EMISSIONS_INPUT = (
    "outlet", "period_start", "interval_s", "pollutant", "conc_mgm3", "o2_pct", "ref_o2_pct", "flow_m3h",
)  # fmt: skip
EMISSIONS_OUTPUT = (
    "outlet", "pollutant", "hour_start", "conc_mgm3", "conc_corrected_mgm3", "load_kg",
    "valid_minutes", "valid", "reason",
)  # fmt: skip
HOUR_S = 3600
WATER_KEYS = ("section", "date", "waterbody")
WATER_OUTPUT = ("section", "date", "class", "limiting_parameters", "reason")
OUTPUTS = (AQI_DAILY_OUTPUT, AQI_HOURLY_OUTPUT, WATER_OUTPUT, NOISE_OUTPUT, EMISSIONS_OUTPUT)


@dataclass(frozen=True)
class Table:
    """A calculator's result: column names (project vocabulary) and its rows of text cells,
    made as they are read (`rows()`), so a large result is never held as Python strings."""

    columns: tuple[str, ...]
    cells: Callable[[], Iterable[tuple[str, ...]]]

    def rows(self) -> Iterable[tuple[str, ...]]:
        return self.cells()


def to_csv(table: Table) -> str:
    """The plain CSV of `table`: bare column names, LF line ends, cells spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows([safe_cell(c) for c in row] for row in table.rows())
    return out.getvalue()


def decode(path: Path, raw: bytes) -> str:
    """The text of an input file: UTF-8 (a BOM is dropped), else GB18030 (GBK is a subset).
    Neither: an error naming the file and the byte offset where each failed."""
    skip = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    bom = skip > 0
    try:
        return raw[skip:].decode("utf-8")  # strictly: any invalid byte fails
    except UnicodeDecodeError as exc:
        utf8 = f"not UTF-8 ({exc.reason} at byte offset {exc.start + skip})"
        if bom:
            raise EnvmonError(f"{path}: {utf8}, though it starts with a UTF-8 BOM") from exc
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise EnvmonError(
            f"{path}: {utf8} and not GB18030/GBK ({exc.reason} at byte offset {exc.start}); "
            "save it as CSV UTF-8 or as CSV in the Chinese (GBK/GB18030) encoding"
        ) from exc


def water_parameters() -> list[tuple[str, str, str, str]]:
    """The water-class input columns as (column, Chinese name, unit, note), in the order of
    tables/gb3838_limits.csv; the note says "lakes only", "river and lake limits" and "reference
    item, not in the class"."""
    rows = tables.load("gb3838_limits")
    out = []
    for col in dict.fromkeys(r["input_column"] for r in rows):
        mine = [r for r in rows if r["input_column"] == col]
        notes = []
        bodies = {r["waterbody"] for r in mine}
        if bodies == {"lake"}:
            notes.append("lakes only")
        elif bodies == {"river", "lake"}:
            notes.append("river and lake limits")
        if any(r["role"] == "reference" for r in mine):
            notes.append("reference item, not in the class")
        name = re.sub(r"\((河流|湖、库)\)$", "", mine[0]["name_zh"])
        out.append((col, name, mine[0]["unit"], ", ".join(notes)))
    return out


DECIMALS_SHOWN = 3  # concentrations printed with at most this many decimals


class _Reader:
    """Rows of a CSV file with their line numbers; every error names file, line and column."""

    def __init__(self, path: Path, required: tuple[str, ...], tz: str = DEFAULT_TZ):
        self.path = path
        self.tz = tz
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise EnvmonError(f"{path}: file not found") from exc
        text = decode(path, raw)
        self.reader = csv.DictReader(io.StringIO(text))
        self.columns = [c.strip() for c in (self.reader.fieldnames or [])]
        self.reader.fieldnames = self.columns
        missing = [c for c in required if c not in self.columns]
        if missing:
            raise EnvmonError(
                f"{path}: line 1: missing column(s) {', '.join(missing)} (header: {','.join(self.columns)})"
            )
        dupes = {c for c in self.columns if self.columns.count(c) > 1}
        if dupes:
            raise EnvmonError(f"{path}: line 1: duplicate column(s) {', '.join(sorted(dupes))}")

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        for row in self.reader:
            line = self.reader.line_num
            if None in row:
                raise EnvmonError(f"{self.path}: line {line}: more fields than the header has")
            if any(v is None for v in row.values()):
                raise EnvmonError(f"{self.path}: line {line}: fewer fields than the header has")
            if all(not v.strip() for v in row.values()):
                continue
            yield line, {k: v.strip() for k, v in row.items()}

    def fail(self, line: int, column: str, reason: str) -> EnvmonError:
        return EnvmonError(f"{self.path}: line {line}: column {column}: {reason}")

    def number(
        self, line: int, column: str, text: str, minimum: float | None = 0.0
    ) -> float | None:
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            raise self.fail(line, column, f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise self.fail(line, column, f"{text!r} is not a finite number")
        if minimum is not None and value < minimum:
            raise self.fail(line, column, f"{text} is negative")
        return value

    def timestamp(self, line: int, column: str, text: str) -> dt.datetime:
        if not text:
            raise self.fail(line, column, "empty timestamp")
        try:
            ts = dt.datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(line, column, f"{text!r} is not an ISO 8601 timestamp") from None
        return from_local_input(ts, self.tz)  # no offset: local time in self.tz

    def required_text(self, line: int, column: str, text: str) -> str:
        if not text:
            raise self.fail(line, column, "empty value")
        return text


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        text = f"{value:.{DECIMALS_SHOWN}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _table(frame: pl.DataFrame, columns: tuple[str, ...]) -> Table:
    frame = frame.select(columns)
    return Table(columns, lambda: (tuple(_fmt(v) for v in row) for row in frame.iter_rows()))


def _check_edition(edition: str | None) -> None:
    codes = [e.code for e in all_editions("HJ633")]
    if edition is not None and edition not in codes:
        raise EnvmonError(f"--edition must be one of {', '.join(codes)}, got {edition!r}")


def read_air_hourly(path: Path, tz: str = DEFAULT_TZ) -> pl.DataFrame:
    """The hourly air input file as a frame (period_start in UTC), checked line by line."""
    rd = _Reader(path, AIR_INPUT, tz)
    data: dict[str, list] = {c: [] for c in AIR_INPUT}
    seen: dict[tuple[str, dt.datetime], int] = {}
    for line, row in rd.rows():
        site = rd.required_text(line, "site", row["site"])
        ts = rd.timestamp(line, "period_start", row["period_start"])
        if ts.minute or ts.second or ts.microsecond:
            raise rd.fail(
                line, "period_start", f"{row['period_start']!r} is not the start of an hour"
            )
        if (site, ts) in seen:
            raise rd.fail(
                line,
                "period_start",
                f"duplicate hour for site {site} (first on line {seen[site, ts]})",
            )
        seen[site, ts] = line
        data["site"].append(site)
        data["period_start"].append(ts)
        for col in AIR_INPUT[2:]:
            data[col].append(rd.number(line, col, row[col]))
    if not data["site"]:
        raise EnvmonError(f"{path}: no data rows")
    schema = {
        "site": pl.String,
        "period_start": pl.Datetime("us", "UTC"),
        **{c: pl.Float64 for c in AIR_INPUT[2:]},
    }
    return pl.DataFrame(data, schema=schema)


def _run(fn, *args, **kwargs):
    """Run a standards function; its ValueError/LookupError become user-facing EnvmonErrors."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, LookupError) as exc:
        raise EnvmonError(str(exc)) from exc


def aqi_daily_table(path: Path, edition: str | None = None, tz: str = DEFAULT_TZ) -> Table:
    """Daily AQI report per site and local day in `tz` (columns AQI_DAILY_OUTPUT); `reason`:
    the indicators with too few valid hours (or 8-h windows) for the day."""
    _check_edition(edition)
    hourly = read_air_hourly(path, tz)
    daily = _run(daily_air_values, hourly, edition=edition, tz=tz)
    report = _run(aqi_daily, daily, edition=edition)
    reason = pl.coalesce(
        "invalid_reasons",
        pl.col("missing_indicators").str.replace_all(";", ": no valid value; ")
        + ": no valid value",
    )
    return _table(report.with_columns(reason.alias("reason")), AQI_DAILY_OUTPUT)


def aqi_daily_csv(path: Path, edition: str | None = None, tz: str = DEFAULT_TZ) -> str:
    return to_csv(aqi_daily_table(path, edition, tz))


_WINDOW = re.compile(r"(?P<pollutant>[a-z0-9]+)_(?P<hours>\d+)h_(?P<unit>[a-z0-9]+)")


def _window(column: str) -> tuple[str, int]:
    """(input column, hours) of a report concentration column: pm25_24h_ugm3 -> (pm25_ugm3, 24)."""
    m = _WINDOW.fullmatch(column)
    if m is None:
        raise ValueError(f"report column {column!r} names no averaging period")
    return f"{m['pollutant']}_{m['unit']}", int(m["hours"])


def _hourly_reasons(report: pl.DataFrame, hourly: pl.DataFrame, reading: str) -> pl.DataFrame:
    """`reason` of each real-time row with a missing indicator, from the value the indicator
    needs (tables/aqi_indicators.csv via aqi_rules): "pm25: no valid 1-h value", "pm25: 24-h
    moving mean from 5 valid hours, too few", "so2: 1-h value above the scale and ..."."""
    rules: dict[tuple[str, str], Indicator] = {}
    for ed in report["edition"].unique().drop_nulls().to_list():
        for ind in rule_set(ed, "hourly", reading).indicators:
            rules[ed, ind.name] = ind
    windows = {_window(i.concentration_column) for i in rules.values()}
    windows |= {_window(i.above_top.fallback_concentration) for i in rules.values()
                if i.above_top.fallback_concentration}  # fmt: skip
    counts = hourly.lazy()
    for src, hours in sorted(windows):  # the domain's own window count (air_daily)
        if hours > 1:
            counts = with_moving_means(counts, src, hours, f"{src}_{hours}h", pl.lit(0))
    n_cols = [c for c in counts.collect_schema().names() if c.startswith("n_")]
    counts_df = counts.select("site", "period_start", *n_cols).collect()
    used = sorted({i.concentration_column for i in rules.values()})
    missing = report.select(
        pl.int_range(pl.len()).alias("_row"), "site", "period_start", "edition",
        "missing_indicators", *used,
    ).filter(pl.col("missing_indicators").is_not_null())  # fmt: skip
    joined = missing.join(counts_df, on=["site", "period_start"], how="left")

    def missing_value(row: dict, column: str) -> str:
        src, hours = _window(column)
        if hours == 1:
            return "no valid 1-h value"
        n = row.get(f"n_{src}_{hours}h") or 0
        return f"{hours}-h moving mean from {n} valid hours, too few"

    reasons: list[str | None] = [None] * report.height
    for row in joined.iter_rows(named=True):
        parts = []
        for name in (row["missing_indicators"] or "").split(";"):
            if not name:
                continue
            ind = rules[row["edition"], name]
            col = ind.concentration_column
            fallback = ind.above_top.fallback_concentration
            if row[col] is not None and fallback:  # above its scale, and the fallback missing
                parts.append(f"{name}: {col} above the top of its scale and "
                             f"{missing_value(row, fallback)}")  # fmt: skip
            else:
                parts.append(f"{name}: {missing_value(row, col)}")
        reasons[row["_row"]] = "; ".join(parts) or None
    return report.with_columns(pl.Series("reason", reasons, pl.String))


def aqi_hourly_table(
    path: Path, edition: str | None = None, reading: str = DEFAULT_READING, tz: str = DEFAULT_TZ
) -> Table:
    """Real-time AQI report per site and hour (columns AQI_HOURLY_OUTPUT) under `reading`
    (aqi_rules: national_practice or literal); period_start is written in local time (`tz`)
    with its offset; `reason`: the value each missing indicator lacks."""
    _check_edition(edition)
    if reading not in READINGS:
        raise EnvmonError(f"--reading must be one of {', '.join(READINGS)}, got {reading!r}")
    hourly = read_air_hourly(path, tz)
    report = _run(aqi_hourly, hourly, edition=edition, tz=tz, reading=reading)
    report = _hourly_reasons(report, hourly, reading)
    report = report.with_columns(pl.col("period_start").dt.convert_time_zone(tz))
    return _table(report, AQI_HOURLY_OUTPUT)


def aqi_hourly_csv(
    path: Path, edition: str | None = None, reading: str = DEFAULT_READING, tz: str = DEFAULT_TZ
) -> str:
    return to_csv(aqi_hourly_table(path, edition, reading, tz))


def water_class_table(path: Path) -> Table:
    """GB 3838-2002 class per row: input section,date,waterbody + `<parameter>_mgl` columns
    (`ph` without unit; `water_parameters()`); output WATER_OUTPUT, `reason` when a row has no
    value of a parameter that sets the class."""
    rd = _Reader(path, WATER_KEYS)
    known = input_columns()
    params = [c for c in rd.columns if c not in WATER_KEYS]
    for c in params:
        if c not in known:
            raise EnvmonError(
                f"{path}: line 1: column {c}: not a GB 3838-2002 parameter (known: {', '.join(known)})"
            )
    if not params:
        raise EnvmonError(
            f"{path}: line 1: no parameter columns (e.g. {', '.join(list(known)[:4])})"
        )
    data: dict[str, list] = {c: [] for c in rd.columns}
    for line, row in rd.rows():
        data["section"].append(rd.required_text(line, "section", row["section"]))
        try:
            data["date"].append(dt.date.fromisoformat(row["date"]).isoformat())
        except ValueError:
            raise rd.fail(
                line, "date", f"{row['date']!r} is not an ISO date (YYYY-MM-DD)"
            ) from None
        body = row["waterbody"]
        if body not in WATERBODIES:
            raise rd.fail(line, "waterbody", f"{body!r} must be one of {', '.join(WATERBODIES)}")
        data["waterbody"].append(body)
        values = {c: rd.number(line, c, row[c]) for c in params}
        if all(v is None for v in values.values()):
            raise rd.fail(line, ",".join(params), "no parameter value on this line")
        for c, v in values.items():
            data[c].append(v)
    schema = {c: (pl.String if c in WATER_KEYS else pl.Float64) for c in rd.columns}
    frame = pl.DataFrame(data, schema=schema)
    # TN has lake limits only (and is a reference item): not evaluated on river rows
    result = _run(water_class, _river_safe(frame, params, known))
    reasons = [
        None if row["class"] is not None else _water_reason(row, params, known)
        for row in frame.with_columns(result["class"]).iter_rows(named=True)
    ]
    return _table(result.with_columns(pl.Series("reason", reasons, pl.String)), WATER_OUTPUT)


def water_class_csv(path: Path) -> str:
    return to_csv(water_class_table(path))


def _water_reason(row: dict, params: list[str], known: dict[str, str]) -> str:
    """Why a row has no class: each value given is of a parameter that does not set it."""
    given = []
    for c in params:
        if row[c] is None:
            continue
        lim = limits(row["waterbody"]).get(known[c])
        why = "no limit for a " + row["waterbody"] if lim is None else "reference item"
        given.append(f"{c} ({why})")
    return "no valid value of a parameter that sets the class; given: " + ", ".join(given)


def _river_safe(frame: pl.DataFrame, params: list[str], known: dict[str, str]) -> pl.DataFrame:
    lake_only = [c for c in params if known[c] == "tn"]
    if not lake_only:
        return frame
    return frame.with_columns(
        pl.when(pl.col("waterbody") == "lake").then(pl.col(c)).otherwise(None).alias(c)
        for c in lake_only
    )


def noise_table(path: Path, tz: str = DEFAULT_TZ) -> Table:
    """Day/night levels per site and date, days and nights cut in local time (`tz`) (columns
    NOISE_OUTPUT; `reason`: noise.noise_levels' Ld and Ln missing reasons)."""
    rd = _Reader(path, NOISE_INPUT, tz)
    data: dict[str, list] = {c: [] for c in NOISE_INPUT}
    for line, row in rd.rows():
        data["site"].append(rd.required_text(line, "site", row["site"]))
        zone = row["zone"]
        try:
            zone_limits(zone)
        except ValueError as exc:
            raise rd.fail(line, "zone", str(exc)) from None
        data["zone"].append(zone)
        data["period_start"].append(rd.timestamp(line, "period_start", row["period_start"]))
        value = rd.number(line, "leq_dba", row["leq_dba"], minimum=None)
        data["leq_dba"].append(value)
    if not data["site"]:
        raise EnvmonError(f"{path}: no data rows")
    schema = {
        "site": pl.String,
        "zone": pl.String,
        "period_start": pl.Datetime("us", "UTC"),
        "leq_dba": pl.Float64,
    }
    frame = pl.DataFrame(data, schema=schema)
    levels = _run(noise_levels, frame, tz=tz)
    reason = pl.concat_str(
        [
            pl.lit("Ld: ") + pl.col("ld_missing_reason"),
            pl.lit("Ln: ") + pl.col("ln_missing_reason"),
        ],
        separator="; ",
        ignore_nulls=True,
    )
    levels = levels.with_columns(pl.when(reason != "").then(reason).alias("reason"))
    return _table(levels, NOISE_OUTPUT)


def noise_csv(path: Path, tz: str = DEFAULT_TZ) -> str:
    return to_csv(noise_table(path, tz))


def emissions_csv(path: Path) -> str:
    return to_csv(emissions_table(path))


def emissions_table(path: Path) -> Table:
    """Hourly flue-gas / waste-water values per outlet, pollutant and hour from sub-hour records
    (HJ 75-2017, HJ 212-2017 Appendix D): input one row per record with EMISSIONS_INPUT
    (`period_start` ISO 8601 with its offset, `interval_s` the record's length in seconds,
    blank = missing); output EMISSIONS_OUTPUT, `hour_start` in the offset of the hour's first
    record. Valid with 45 minutes of coverage (records x interval / 60); `load_kg` the sum of
    the slice loads; `conc_corrected_mgm3` the hour mean corrected with the hour mean O2 and
    `ref_o2_pct`, none above the O2 cap (not operating, with its reason)."""
    rd = _Reader(path, EMISSIONS_INPUT)
    data: dict[str, list] = {
        c: [] for c in ("point", "period_start", "hour_start", "interval_s", "c_mgm3", "o2_pct",
                        "o2_ref_pct", "flow_m3h")
    }  # fmt: skip
    seen: dict[tuple[str, str, dt.datetime], int] = {}
    spans: dict[tuple[str, str], list[tuple[dt.datetime, dt.datetime, int]]] = {}
    offsets: dict[tuple[str, dt.datetime], dt.tzinfo] = {}
    names: dict[str, tuple[str, str]] = {}
    for line, row in rd.rows():
        outlet = rd.required_text(line, "outlet", row["outlet"])
        pollutant = rd.required_text(line, "pollutant", row["pollutant"])
        text = row["period_start"]
        try:
            local = dt.datetime.fromisoformat(text) if text else None
        except ValueError:
            raise rd.fail(line, "period_start", f"{text!r} is not an ISO 8601 timestamp") from None
        if local is None:
            raise rd.fail(line, "period_start", "empty timestamp")
        if local.tzinfo is None:
            raise rd.fail(
                line, "period_start", f"{text!r} has no UTC offset (e.g. 2024-01-01T08:00:00+08:00)"
            )
        iv_text = row["interval_s"]
        if not iv_text.isdigit() or not 0 < int(iv_text) <= HOUR_S:
            raise rd.fail(
                line, "interval_s", f"{iv_text!r} is not a whole number of seconds in 1..{HOUR_S}"
            )
        interval_s = int(iv_text)
        utc = local.astimezone(dt.UTC)
        if (outlet, pollutant, utc) in seen:
            raise rd.fail(
                line, "period_start",
                f"duplicate record for {outlet} {pollutant} (first on line {seen[outlet, pollutant, utc]})",
            )  # fmt: skip
        seen[outlet, pollutant, utc] = line
        spans.setdefault((outlet, pollutant), []).append(
            (utc, utc + dt.timedelta(seconds=interval_s), line)
        )
        hour_local = local.replace(minute=0, second=0, microsecond=0)
        if (local - hour_local).total_seconds() + interval_s > HOUR_S:
            raise rd.fail(
                line, "interval_s", f"a {interval_s} s record starting at {text} runs past its hour"
            )
        hour_utc = hour_local.astimezone(dt.UTC)
        point = f"{outlet}\x1f{pollutant}"
        names[point] = (outlet, pollutant)
        offsets.setdefault((point, hour_utc), local.tzinfo)
        o2 = rd.number(line, "o2_pct", row["o2_pct"])
        ref = rd.number(line, "ref_o2_pct", row["ref_o2_pct"])
        for col, value in (("o2_pct", o2), ("ref_o2_pct", ref)):
            if value is not None and value >= 100:
                raise rd.fail(line, col, f"{value:g} is not a percentage below 100")
        data["point"].append(point)
        data["period_start"].append(utc)
        data["hour_start"].append(hour_utc)
        data["interval_s"].append(interval_s)
        data["c_mgm3"].append(rd.number(line, "conc_mgm3", row["conc_mgm3"]))
        data["o2_pct"].append(o2)
        data["o2_ref_pct"].append(ref)
        data["flow_m3h"].append(rd.number(line, "flow_m3h", row["flow_m3h"]))
    if not data["point"]:
        raise EnvmonError(f"{path}: no data rows")
    # overlapping records of one outlet and pollutant would count their common time twice
    for (outlet, pollutant), records in spans.items():
        records.sort()
        for (_, end, first), (start, _, line) in itertools.pairwise(records):
            if start < end:
                raise rd.fail(
                    line, "period_start",
                    f"record overlaps the record on line {first} for {outlet} {pollutant} "
                    f"(that one runs to {end.isoformat()})",
                )  # fmt: skip
    utc_t = pl.Datetime("us", "UTC")
    schema = {"point": pl.String, "period_start": utc_t, "hour_start": utc_t, "interval_s": pl.Int64,
              "c_mgm3": pl.Float64, "o2_pct": pl.Float64, "o2_ref_pct": pl.Float64,
              "flow_m3h": pl.Float64}  # fmt: skip
    hourly = _run(hourly_emissions, pl.DataFrame(data, schema=schema))
    rows = []
    for row in hourly.iter_rows(named=True):
        outlet, pollutant = names[row["point"]]
        hour = row["period_start"]
        shown = hour.astimezone(offsets[row["point"], hour.astimezone(dt.UTC)])
        values = (outlet, pollutant, shown, row["c_mgm3"], row["c_zs_mgm3"], row["load_kg"],
                  row["valid_minutes"], row["valid"] and row["operating"], row["reason"])  # fmt: skip
        rows.append(tuple(_fmt(v) for v in values))
    return Table(EMISSIONS_OUTPUT, lambda: rows)
