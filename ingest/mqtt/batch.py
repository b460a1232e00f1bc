"""Accumulate decoded readings and hand them over as one Arrow table.

Tuples, not dicts: the ingestor takes tens of thousands of readings a second. What a
message's readings share (site, period, interval, receipt time, topic) is kept once per
message and repeated by Arrow (`take`) when the batch is written; `zip(*rows)` turns the
tuples into columns in C.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from core.landing import readings_table
from core.schema import READINGS_SCHEMA, TS

# Per message, and per value; times are epoch microseconds (UTC).
GROUP_FIELDS = ("site_id", "period_start", "interval_s", "received_at", "origin")
VALUE_FIELDS = ("parameter", "value", "value_min", "value_max", "unit", "flag", "extra")
_TYPES = {
    "period_start": TS,
    "received_at": TS,
    "interval_s": pa.int32(),
    "value": pa.float64(),
    "value_min": pa.float64(),
    "value_max": pa.float64(),
}


class ReadingRows:
    """Readings of one source kind: per-message tuples (GROUP_FIELDS) and value tuples (VALUE_FIELDS)."""

    __slots__ = ("counts", "groups", "source_kind", "values")

    def __init__(self, source_kind: str):
        self.source_kind = source_kind
        self.groups: list[tuple[Any, ...]] = []
        self.counts: list[int] = []  # values per group
        self.values: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.values)

    def add(
        self,
        site_id: str,
        period_start_us: int,
        interval_s: int,
        received_at_us: int,
        origin: str,
        values: Sequence[tuple[Any, ...]],
    ) -> None:
        if values:
            self.groups.append((site_id, period_start_us, interval_s, received_at_us, origin))
            self.counts.append(len(values))
            self.values.extend(values)

    def to_table(self) -> pa.Table:
        n = len(self.values)
        if n:
            per_value = dict(zip(VALUE_FIELDS, zip(*self.values, strict=True), strict=True))
            per_group = dict(zip(GROUP_FIELDS, zip(*self.groups, strict=True), strict=True))
        else:
            per_value = {name: () for name in VALUE_FIELDS}
            per_group = {name: () for name in GROUP_FIELDS}
        group_of_value = pa.array(np.repeat(np.arange(len(self.counts)), self.counts))
        arrays = {
            name: pa.array(col, _TYPES.get(name, pa.string())) for name, col in per_value.items()
        }
        for name, col in per_group.items():
            arrays[name] = pa.array(col, _TYPES.get(name, pa.string())).take(group_of_value)
        arrays["source_kind"] = pa.array([self.source_kind] * n, pa.string())
        return pa.table(arrays).select([c for c in READINGS_SCHEMA.names if c in arrays])


def dead_letter_id(origin: str, reason: str, raw: bytes) -> str:
    """Deterministic id: a redelivered bad message collapses onto its first dead letter."""
    h = hashlib.sha256()
    for part in (origin.encode(), reason.encode(), raw):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:32]


@dataclass
class Batch:
    """What one landing write covers: readings by source kind, logger events, dead letters, and
    the acks owed."""

    mqtt: ReadingRows = field(default_factory=lambda: ReadingRows("mqtt"))
    other_rows: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)  # e.g. hj212 rows
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    # HJ 212 logger events (CN 2021 running status, 2072 alarms): LOGGER_EVENTS_SCHEMA dicts
    logger_events: list[dict[str, Any]] = field(default_factory=list)
    # (packet id, QoS) in the order received, by the client's connection number
    acks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    messages: int = 0
    dead_bytes: int = 0  # raw payload bytes held by dead_letters (a batch is written at a bound)
    first_at: float = 0.0  # monotonic time of the first message

    @property
    def readings(self) -> int:
        return len(self.mqtt) + sum(len(v) for v in self.other_rows.values())

    def add_rows(self, source_kind: str, rows: Iterable[Mapping[str, Any]]) -> None:
        self.other_rows.setdefault(source_kind, []).extend(rows)

    def tables(self) -> list[tuple[str, pa.Table]]:
        out = []
        if len(self.mqtt):
            out.append(("mqtt", self.mqtt.to_table()))
        for kind, rows in self.other_rows.items():
            if rows:
                out.append((kind, readings_table(rows)))
        return out
