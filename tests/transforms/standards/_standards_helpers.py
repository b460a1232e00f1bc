"""Helpers of the standards tests: published tables (fixtures/*.csv, cited in their headers)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

FIXTURES = Path(__file__).with_name("fixtures")
SH = ZoneInfo("Asia/Shanghai")


def read_fixture(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(encoding="utf-8") as fh:
        lines = [ln for ln in fh if not ln.startswith("#")]
    return list(csv.DictReader(lines))


def hourly_frame(rows: list[dict]) -> pl.DataFrame:
    """Hourly frame in the standard vocabulary; missing pollutant keys are null."""
    cols = ["so2_ugm3", "no2_ugm3", "pm10_ugm3", "pm25_ugm3", "co_mgm3", "o3_ugm3"]
    data = {
        "site": [r.get("site", "S") for r in rows],
        "period_start": [r["period_start"] for r in rows],
        **{c: [r.get(c) for r in rows] for c in cols},
    }
    schema = {
        "site": pl.String,
        "period_start": pl.Datetime("us", "Asia/Shanghai"),
        **{c: pl.Float64 for c in cols},
    }
    return pl.DataFrame(data, schema=schema)


def day_hours(
    day: dt.date, values: dict[str, float], site: str = "S", skip: dict[str, set[int]] | None = None
) -> list[dict]:
    """24 hourly rows of constant values; `skip` = pollutant -> hours set to missing."""
    skip = skip or {}
    rows = []
    for h in range(24):
        r = {"site": site, "period_start": dt.datetime(day.year, day.month, day.day, h, tzinfo=SH)}
        for k, v in values.items():
            r[k] = None if h in skip.get(k, set()) else v
        rows.append(r)
    return rows


def hj663_percentile(values: list[float], p: float) -> float:
    """HJ 663 percentile of a list (scalar reference implementation; p as a fraction)."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    k = 1 + (len(xs) - 1) * p
    s = int(k)
    if s >= len(xs):
        return xs[-1]
    return xs[s - 1] + (xs[s] - xs[s - 1]) * (k - s)
