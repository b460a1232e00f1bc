"""Shared helpers of the derive tests (reading rows, read-only queries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.settings import Settings
from warehouse.db import connect

LOADED_AT = datetime(2024, 1, 1, tzinfo=UTC)


def reading(
    site: str,
    parameter: str,
    start: datetime,
    value: float | None,
    unit: str,
    interval_s: int = 3600,
    source_kind: str = "sim",
) -> dict[str, Any]:
    return {
        "site_id": site,
        "parameter": parameter,
        "period_start": start,
        "interval_s": interval_s,
        "source_kind": source_kind,
        "value": value,
        "unit": unit,
        "received_at": LOADED_AT,
    }


def query(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with connect(settings, write=False) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
