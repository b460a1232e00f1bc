"""What a reading may be: one contract that every ingestor applies before it lands a reading.

A reading (a row of `core.schema.READINGS_SCHEMA`) is accepted only when
- its period starts inside the time window: not before `reading_earliest` (settings; a DataTime
  of 1900 or 1970 is a logger's reset clock, not data) and not later than now plus
  `reading_max_future_s` (settings; the clock drift tolerated — a later time is a wrong clock);
- every value column (value, value_min, value_max, value_zs, value_cou) is a finite number or
  null (no NaN, no ±Infinity: "Infinity" in JSON or HJ 212 text is refused, not stored);
- its flag is null or one of the vocabulary in `reading_flags.csv` (HJ 212-2017 Table 8 plus
  envmon's own markers); an empty or blank flag means "no flag";
- its unit is not empty.

Each refusal comes back with its reason, naming the field and the value, so the ingestor can
dead-letter the raw input with it. The checks are vectorised (pyarrow) for the bulk paths and
the same rules serve a single row (`row_problem`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

FLAGS_CSV = Path(__file__).with_name("reading_flags.csv")
VALUE_COLUMNS = ("value", "value_min", "value_max", "value_zs", "value_cou")


@cache
def reading_flags() -> dict[str, tuple[str, bool]]:
    """Flag -> (meaning, usable in automatic statistics), from reading_flags.csv."""
    with open(FLAGS_CSV, encoding="utf-8") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {r["flag"]: (r["meaning"], r["usable"] == "true") for r in rows}


def normalise_flag(flag: object) -> object:
    """An empty or blank flag is no flag; other text is stripped. Non-text is returned as is."""
    if isinstance(flag, str):
        flag = flag.strip()
        return flag or None
    return flag


@dataclass(frozen=True)
class ReadingContract:
    earliest: datetime  # UTC: no period may start before it
    max_future: timedelta  # how far past `now` a period may start (clock drift)
    flags: frozenset[str]

    @classmethod
    def from_settings(cls, settings: object | None = None) -> ReadingContract:
        """The contract of the settings (`reading_earliest`, `reading_max_future_s`)."""
        if settings is None:
            from core.settings import get_settings

            settings = get_settings()
        earliest: date = settings.reading_earliest  # type: ignore[attr-defined]
        return cls(
            earliest=datetime(earliest.year, earliest.month, earliest.day, tzinfo=UTC),
            max_future=timedelta(seconds=settings.reading_max_future_s),  # type: ignore[attr-defined]
            flags=frozenset(reading_flags()),
        )

    def latest(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)).astimezone(UTC) + self.max_future

    # -- one value at a time ----------------------------------------------------------------
    def time_problem(self, period_start: datetime, now: datetime | None = None) -> str | None:
        if period_start.tzinfo is None:
            return f"field 'period_start': {period_start.isoformat()} has no time zone"
        ts = period_start.astimezone(UTC)
        if ts < self.earliest:
            return (
                f"field 'period_start': {ts.isoformat()} is before {self.earliest.date().isoformat()}"
                " (a reset logger clock?); setting reading_earliest"
            )
        limit = self.latest(now)
        if ts > limit:
            return (
                f"field 'period_start': {ts.isoformat()} is in the future (later than "
                f"{limit.isoformat()}, now + {self.max_future.total_seconds():g} s)"
            )
        return None

    @staticmethod
    def value_problem(field: str, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"field {field!r}: {value!r} is not a number"
        if not math.isfinite(value):
            return f"field {field!r}: {value!r} is not a finite number"
        return None

    def flag_problem(self, flag: object) -> str | None:
        flag = normalise_flag(flag)
        if flag is None:
            return None
        if not isinstance(flag, str) or flag not in self.flags:
            return (
                f"field 'flag': {flag!r} is not a data flag; valid: {', '.join(sorted(self.flags))}"
            )
        return None

    def row_problem(self, row: Mapping[str, object], now: datetime | None = None) -> str | None:
        """The first reason `row` (a READINGS_SCHEMA dict) breaks the contract, or None."""
        start = row.get("period_start")
        if not isinstance(start, datetime):
            return f"field 'period_start': {start!r} is not a time"
        problem = self.time_problem(start, now)
        for name in VALUE_COLUMNS:
            problem = problem or self.value_problem(name, row.get(name))
        problem = problem or self.flag_problem(row.get("flag"))
        if problem is None and not str(row.get("unit") or "").strip():
            problem = "field 'unit': empty"
        return problem

    # -- a whole table ----------------------------------------------------------------------
    def split(
        self, table: pa.Table, now: datetime | None = None
    ) -> tuple[pa.Table, list[tuple[int, str]]]:
        """(the rows that keep the contract, with blank flags as null; [(row index, reason)] of the others)."""
        n = table.num_rows
        if n == 0:
            return table, []
        ts = table["period_start"]
        bad_time = pc.or_kleene(
            pc.less(ts, pa.scalar(self.earliest, ts.type)),
            pc.greater(ts, pa.scalar(self.latest(now), ts.type)),
        )
        bad = pc.fill_null(bad_time, True)
        for name in VALUE_COLUMNS:
            if name in table.column_names:
                col = table[name]
                finite = pc.is_finite(col)
                bad = pc.or_(bad, pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(finite, False))))
        flags = table["flag"] if "flag" in table.column_names else None
        if flags is not None:
            flags = pc.utf8_trim_whitespace(flags)
            flags = pc.if_else(pc.equal(flags, ""), pa.scalar(None, pa.string()), flags)
            known = pc.is_in(flags, value_set=pa.array(sorted(self.flags), pa.string()))
            bad = pc.or_(bad, pc.and_(pc.is_valid(flags), pc.invert(known)))
            table = table.set_column(table.column_names.index("flag"), "flag", flags)
        units = pc.utf8_trim_whitespace(table["unit"])
        bad = pc.or_(bad, pc.fill_null(pc.equal(units, ""), True))
        if not pc.any(bad).as_py():
            return table, []
        rejected = []
        for i in pc.indices_nonzero(bad).to_pylist():
            row = table.slice(i, 1).to_pylist()[0]
            rejected.append((i, self.row_problem(row, now) or "breaks the reading contract"))
        return table.filter(pc.invert(bad)), rejected
