"""Derive tests: a real DuckDB warehouse with every migration and the repository's registry (a
copy of the session's template); readings are inserted as loaded batches and marked
QC-evaluated (no flags = passed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from derivedata import LOADED_AT

from core.schema import READINGS_SCHEMA
from core.settings import Settings
from warehouse.db import connect


@pytest.fixture
def wh(migrated_warehouse: Settings) -> Settings:
    return migrated_warehouse


Insert = Callable[..., None]


@pytest.fixture
def insert(wh: Settings) -> Insert:
    """Insert readings as one loaded batch and mark [lo, hi) QC-evaluated without flags."""
    counter = iter(range(10**6))

    def add(rows: list[dict[str, Any]], lo: datetime, hi: datetime) -> None:
        bid = f"t{next(counter):04d}"
        cols = {name: [r.get(name) for r in rows] for name in READINGS_SCHEMA.names}
        table = pa.table(cols, schema=READINGS_SCHEMA.remove_metadata()).append_column(
            "batch_id", pa.array([bid] * len(rows), pa.string())
        )
        with connect(wh) as con:
            con.register("new_rows", table)
            con.execute("INSERT INTO readings BY NAME SELECT * FROM new_rows")
            con.unregister("new_rows")
            con.execute(
                "INSERT INTO load_ledger VALUES (?, 'readings', 'sim', ?, ?, ?, 0, 0, ?)",
                [bid, f"readings/{bid}.parquet", len(rows), len(rows), LOADED_AT],
            )
            con.execute(
                "INSERT INTO qc_coverage VALUES (?, ?, 'test', ?, 0, ?) ON CONFLICT DO NOTHING",
                [lo, hi, len(rows), LOADED_AT + timedelta(seconds=1)],
            )

    return add
