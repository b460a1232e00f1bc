"""Per-logger habits: the minute-data interval and the period label (start or end).

The defaults per protocol edition and the allowed minute intervals are data
(`logger_defaults.csv`, `minute_intervals.csv` next to this module, each row citing its
standard, clause and status); a logger's own `minute_interval_s` / `hour_label` in the
registry win over them. Pure: no database, so ingestors use it too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

_HERE = Path(__file__).parent
HourLabelValue = Literal["start", "end"]
HOUR_LABELS: tuple[HourLabelValue, ...] = ("start", "end")


@dataclass(frozen=True)
class LoggerFacts:
    """What the parsers need to know of a logger: its minute interval and its period label."""

    minute_interval_s: int
    hour_label: HourLabelValue


def _rows(name: str) -> list[dict[str, str]]:
    with open(_HERE / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


@cache
def edition_defaults() -> dict[str, LoggerFacts]:
    """protocol edition -> its default facts (the row marked default=true)."""
    out: dict[str, LoggerFacts] = {}
    for r in _rows("logger_defaults.csv"):
        if r["default"] == "true":
            label = r["hour_label"]
            if label not in HOUR_LABELS:
                raise ValueError(
                    f"logger_defaults.csv: hour_label {label!r}; valid choices: start, end"
                )
            out[r["protocol_edition"]] = LoggerFacts(int(r["minute_interval_s"]), label)  # type: ignore[arg-type]
    return out


@cache
def allowed_minute_intervals() -> tuple[int, ...]:
    return tuple(int(r["minute_interval_s"]) for r in _rows("minute_intervals.csv"))


def effective_facts(
    protocol_edition: str, minute_interval_s: int | None, hour_label: str | None
) -> LoggerFacts:
    """The facts a logger is taken to have: its own where set, else its edition's default."""
    default = edition_defaults()[protocol_edition]
    return LoggerFacts(
        minute_interval_s if minute_interval_s is not None else default.minute_interval_s,
        hour_label if hour_label is not None else default.hour_label,  # type: ignore[arg-type]
    )
