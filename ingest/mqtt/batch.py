"""Accumulate decoded readings column by column and hand them over as one Arrow table.

Column lists (not row dicts) keep the per-reading cost low: the ingestor appends tens of
thousands of readings a second, and Arrow builds each column from one list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from envmon.schema import READINGS_SCHEMA, TS
from ingest.landing import readings_table


class ReadingColumns:
    """Readings of one source kind, as parallel column lists. Times are epoch microseconds."""

    __slots__ = ("extra", "flag", "interval_s", "origin", "parameter", "period_start", "received_at",
                 "site_id", "source_kind", "unit", "value", "value_max", "value_min")

    def __init__(self, source_kind: str):
        self.source_kind = source_kind
        self.site_id: list[str] = []
        self.parameter: list[str] = []
        self.period_start: list[int] = []
        self.interval_s: list[int] = []
        self.value: list[float | None] = []
        self.value_min: list[float | None] = []
        self.value_max: list[float | None] = []
        self.unit: list[str] = []
        self.flag: list[str | None] = []
        self.received_at: list[int] = []
        self.origin: list[str] = []
        self.extra: list[str | None] = []

    def __len__(self) -> int:
        return len(self.site_id)

    def to_table(self) -> pa.Table:
        n = len(self.site_id)
        arrays = {
            "site_id": pa.array(self.site_id, pa.string()),
            "parameter": pa.array(self.parameter, pa.string()),
            "period_start": pa.array(self.period_start, TS),
            "interval_s": pa.array(self.interval_s, pa.int32()),
            "source_kind": pa.array([self.source_kind] * n, pa.string()),
            "value": pa.array(self.value, pa.float64()),
            "value_min": pa.array(self.value_min, pa.float64()),
            "value_max": pa.array(self.value_max, pa.float64()),
            "unit": pa.array(self.unit, pa.string()),
            "flag": pa.array(self.flag, pa.string()),
            "received_at": pa.array(self.received_at, TS),
            "origin": pa.array(self.origin, pa.string()),
            "extra": pa.array(self.extra, pa.string()),
        }
        return pa.table(arrays).select([n for n in READINGS_SCHEMA.names if n in arrays])


def dead_letter_id(origin: str, reason: str, raw: bytes) -> str:
    """Deterministic id: a redelivered bad message collapses onto its first dead letter."""
    h = hashlib.sha256()
    for part in (origin.encode(), reason.encode(), raw):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:32]


@dataclass
class Batch:
    """What one landing write covers: readings by source kind, dead letters, and the acks owed."""

    mqtt: ReadingColumns = field(default_factory=lambda: ReadingColumns("mqtt"))
    other_rows: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)  # e.g. hj212 rows
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    acks: list[tuple[int, int]] = field(default_factory=list)  # (mid, qos) in order received
    messages: int = 0
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
