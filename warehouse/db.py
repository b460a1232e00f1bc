"""Connections to the DuckDB warehouse, always under the writer/reader lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from core.settings import Settings, get_settings
from warehouse.lock import warehouse_lock


@contextmanager
def connect(
    settings: Settings | None = None,
    *,
    write: bool = True,
    purpose: str = "",
    timeout_s: float | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse: one writer at a time (waits for the lock), readers read-only.

    Sessions run in UTC so that no query's result depends on the machine's zone; local days
    are computed with each site's own zone explicitly. DuckDB's memory is capped by the
    `duckdb_memory_limit` setting (its own default, 80% of RAM, lets one nightly task take the
    machine) and spills to `duckdb_temp_dir` beyond it.
    """
    settings = settings or get_settings()
    path = Path(settings.warehouse_path)
    timeout = settings.lock_timeout_s if timeout_s is None else timeout_s
    if not write and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `envmon init` first")
    with warehouse_lock(path, exclusive=write, timeout_s=timeout, purpose=purpose):
        path.parent.mkdir(parents=True, exist_ok=True)
        spill = settings.duckdb_spill_dir
        spill.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=not write)
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
            con.execute("SET temp_directory = $dir", {"dir": str(spill)})
            yield con
            if write:
                con.execute("CHECKPOINT")
        finally:
            con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of the block's statements or none of them."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
