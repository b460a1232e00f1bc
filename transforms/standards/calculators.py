"""Staff calculators: CSV in, CSV out (UTF-8), the same functions the pipeline uses.

Each `*_csv` function reads an input file, checks it line by line (errors name the file, line,
column and reason and raise EnvmonError), runs the standard's calculation and returns the output
CSV text. Input `period_start`: ISO 8601, start of the hour, with or without offset (without =
Asia/Shanghai local time); blank values are missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from core.errors import EnvmonError
from core.spreadsheet import safe_cell
from transforms.standards.air_daily import daily_air_values
from transforms.standards.air_reports import aqi_daily, aqi_hourly
from transforms.standards.aqi_rules import DEFAULT_READING, READINGS
from transforms.standards.editions import all_editions
from transforms.standards.emissions import hourly_emissions
from transforms.standards.noise import noise_levels, zone_limits
from transforms.standards.water import WATERBODIES, input_columns, water_class

LOCAL_TZ = "Asia/Shanghai"
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
    "o3_1h_max_ugm3", "o3_8h_max_ugm3", "valid",
)  # fmt: skip
AQI_HOURLY_OUTPUT = (
    "site", "period_start", "edition", "aqi", "level", "category", "primary_pollutants",
    "iaqi_so2", "iaqi_no2", "iaqi_pm10", "iaqi_pm25", "iaqi_co", "iaqi_o3_1h", "iaqi_o3_8h",
    "so2_1h_ugm3", "no2_1h_ugm3", "pm10_1h_ugm3", "pm25_1h_ugm3", "co_1h_mgm3", "o3_1h_ugm3",
    "o3_8h_ugm3", "so2_24h_ugm3", "pm10_24h_ugm3", "pm25_24h_ugm3", "valid", "realtime_reading",
)  # fmt: skip
NOISE_INPUT = ("site", "zone", "period_start", "leq_dba")
NOISE_OUTPUT = (
    "site", "date", "zone", "ld_dba", "ln_dba", "ld_limit_dba", "ln_limit_dba", "day_exceeds", "night_exceeds",
    "n_day_hours", "n_night_hours", "ld_missing_reason", "ln_missing_reason",
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
WATER_OUTPUT = ("section", "date", "class", "limiting_parameters")
DECIMALS_SHOWN = 3  # concentrations printed with at most this many decimals


class _Reader:
    """Rows of a CSV file with their line numbers; every error names file, line and column."""

    def __init__(self, path: Path, required: tuple[str, ...]):
        self.path = path
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as exc:
            raise EnvmonError(f"{path}: file not found") from exc
        except UnicodeDecodeError as exc:
            raise EnvmonError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
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
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=ZoneInfo(LOCAL_TZ))
        return ts.astimezone(dt.UTC)

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


def _to_csv(
    frame: pl.DataFrame,
    columns: tuple[str, ...],
    convert: dict[str, Callable[[object], object]] | None = None,
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    convert = convert or {}
    for row in frame.select(columns).iter_rows(named=True):
        writer.writerow([safe_cell(_fmt(convert.get(c, lambda v: v)(row[c]))) for c in columns])
    return out.getvalue()


def _check_edition(edition: str | None) -> None:
    codes = [e.code for e in all_editions("HJ633")]
    if edition is not None and edition not in codes:
        raise EnvmonError(f"--edition must be one of {', '.join(codes)}, got {edition!r}")


def read_air_hourly(path: Path) -> pl.DataFrame:
    """The hourly air input file as a frame (period_start in UTC), checked line by line."""
    rd = _Reader(path, AIR_INPUT)
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


def aqi_daily_csv(path: Path, edition: str | None = None) -> str:
    """Daily AQI report per site and local day (columns AQI_DAILY_OUTPUT)."""
    _check_edition(edition)
    hourly = read_air_hourly(path)
    daily = _run(daily_air_values, hourly, edition=edition)
    report = _run(aqi_daily, daily, edition=edition)
    return _to_csv(report, AQI_DAILY_OUTPUT)


def aqi_hourly_csv(path: Path, edition: str | None = None, reading: str = DEFAULT_READING) -> str:
    """Real-time AQI report per site and hour (columns AQI_HOURLY_OUTPUT) under `reading`
    (aqi_rules: national_practice or literal); period_start is written in local time with its
    offset."""
    _check_edition(edition)
    if reading not in READINGS:
        raise EnvmonError(f"--reading must be one of {', '.join(READINGS)}, got {reading!r}")
    report = _run(aqi_hourly, read_air_hourly(path), edition=edition, reading=reading)
    report = report.with_columns(pl.col("period_start").dt.convert_time_zone(LOCAL_TZ))
    return _to_csv(report, AQI_HOURLY_OUTPUT)


def water_class_csv(path: Path) -> str:
    """GB 3838-2002 class per row: input section,date,waterbody + `<parameter>_mgl` columns
    (`ph` without unit); output section,date,class,limiting_parameters."""
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
    return _to_csv(result, WATER_OUTPUT)


def _river_safe(frame: pl.DataFrame, params: list[str], known: dict[str, str]) -> pl.DataFrame:
    lake_only = [c for c in params if known[c] == "tn"]
    if not lake_only:
        return frame
    return frame.with_columns(
        pl.when(pl.col("waterbody") == "lake").then(pl.col(c)).otherwise(None).alias(c)
        for c in lake_only
    )


def noise_csv(path: Path) -> str:
    """Day/night levels per site and date (columns NOISE_OUTPUT)."""
    rd = _Reader(path, NOISE_INPUT)
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
    return _to_csv(_run(noise_levels, frame), NOISE_OUTPUT)


def emissions_csv(path: Path) -> str:
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
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EMISSIONS_OUTPUT)
    for row in hourly.iter_rows(named=True):
        outlet, pollutant = names[row["point"]]
        hour = row["period_start"]
        shown = hour.astimezone(offsets[row["point"], hour.astimezone(dt.UTC)])
        values = (outlet, pollutant, shown, row["c_mgm3"], row["c_zs_mgm3"], row["load_kg"],
                  row["valid_minutes"], row["valid"] and row["operating"], row["reason"])  # fmt: skip
        writer.writerow([safe_cell(_fmt(v)) for v in values])
    return out.getvalue()
