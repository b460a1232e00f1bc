"""What a data logger's traffic shows of its habits: minute interval and period label.

- Minute interval: the median step between consecutive CN 2051 records of one pollutant of one
  logger (MN), over all its pollutants.
- Period label: the hour each minute record belongs to is taken twice, once reading DataTime
  as the start of its period (HJ 212-2017 6.3.3) and once as the end (shifted back by the
  minute interval); the mean of the minute `Avg` values of each (pollutant, hour) is compared
  with the logger's own CN 2061 `Avg` of that hour (labelled the same way). The label with the
  larger share of pairs agreeing within `tolerance` (relative) is the logger's; a tie (or no
  pairs) decides nothing.

Input: the tables of a bulk parse (`bulk.parse_records`: packets with `datatime` in UTC, values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import polars as pl

from ingest.hj212.protocol import DEFAULT_TZ

# relative difference under which a minute mean and an hourly value agree (a detection
# heuristic, not a standard's limit: issue 17 measured the capture with 1 %)
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class LoggerHabits:
    mn: str
    minute_interval_s: int | None  # median step of its 2051 records (None: no two in a row)
    minute_steps: int  # steps the median is taken over
    hour_label: str | None  # 'start' | 'end' | None (undecided)
    pairs: int  # (pollutant, hour) pairs of minute mean and hourly value compared
    agree_start: float | None  # share of pairs agreeing, periods read as start-labelled
    agree_end: float | None  # the same, read as end-labelled


def _avg(packets: pl.DataFrame, values: pl.DataFrame, cn: str) -> pl.DataFrame:
    pk = packets.filter(
        (pl.col("cn") == cn) & pl.col("mn").is_not_null() & pl.col("datatime").is_not_null()
    ).select("record", "mn", "datatime")
    avg = (
        values.filter(
            (pl.col("field") == "Avg")
            & pl.col("value").is_not_null()
            & pl.col("code").is_not_null()
        )
        .select("record", "seq", "code", "value")
        .sort("record", "seq")
        .unique(subset=["record", "code"], keep="first", maintain_order=True)
    )
    return (
        pk.join(avg, on="record")
        .select("mn", "code", t=pl.col("datatime").dt.convert_time_zone("UTC"), value="value")
        .unique(subset=["mn", "code", "t"], keep="first", maintain_order=True)
        .sort("mn", "code", "t")
    )


def detect_habits(
    packets: pl.DataFrame,
    values: pl.DataFrame,
    tz: tzinfo = DEFAULT_TZ,
    tolerance: float = DEFAULT_TOLERANCE,
) -> dict[str, LoggerHabits]:
    """MN -> its habits, for every MN with minute or hourly data in the tables."""
    zone = str(tz)
    minute = _avg(packets, values, "2051")
    hour = _avg(packets, values, "2061")
    steps = (
        minute.with_columns(
            step=(pl.col("t") - pl.col("t").shift(1).over("mn", "code")).dt.total_seconds()
        )
        .filter(pl.col("step") > 0)
        .group_by("mn")
        .agg(step=pl.col("step").median(), n=pl.len())
    )
    step_of = {mn: (round(s), n) for mn, s, n in steps.iter_rows()}
    shares: dict[str, dict[str, tuple[int, int]]] = {}
    m = minute.join(steps.select("mn", "step"), on="mn")
    for label in ("start", "end"):
        start = pl.col("t")
        if label == "end":
            start = pl.col("t") - pl.duration(seconds=pl.col("step").round(0).cast(pl.Int64))
        means = (
            m.with_columns(hour=start.dt.convert_time_zone(zone).dt.truncate("1h"))
            .group_by("mn", "code", "hour")
            .agg(mean=pl.col("value").mean())
        )
        h_start = pl.col("t") if label == "start" else pl.col("t") - pl.duration(hours=1)
        hours = hour.select(
            "mn", "code", hour=h_start.dt.convert_time_zone(zone), hv=pl.col("value")
        )
        pairs = means.join(hours, on=["mn", "code", "hour"]).with_columns(
            ok=(pl.col("mean") - pl.col("hv")).abs() <= tolerance * pl.col("hv").abs() + 1e-12
        )
        for mn, n, ok in pairs.group_by("mn").agg(n=pl.len(), ok=pl.col("ok").sum()).iter_rows():
            shares.setdefault(mn, {})[label] = (n, ok)
    out = {}
    for mn in sorted(set(step_of) | set(shares) | set(hour["mn"].unique().to_list())):
        s = shares.get(mn, {})
        n_start, ok_start = s.get("start", (0, 0))
        n_end, ok_end = s.get("end", (0, 0))
        a_start = ok_start / n_start if n_start else None
        a_end = ok_end / n_end if n_end else None
        label = None
        if a_start is not None and a_end is not None and a_start != a_end:
            label = "end" if a_end > a_start else "start"
        elif a_start is None and a_end is not None:
            label = "end"
        elif a_end is None and a_start is not None:
            label = "start"
        step, n_steps = step_of.get(mn, (None, 0))
        out[mn] = LoggerHabits(mn, step, n_steps, label, max(n_start, n_end), a_start, a_end)
    return out
