"""The console's access to the warehouse (docs/console.md, "Concurrency").

DuckDB lets one process write a file; envmon's lock (warehouse.lock) makes writers and readers
take turns, and a pipeline run holds the write lock for seconds to minutes. The console never
waits long for it: a page opens a short read-only connection per request and, when a writer
holds the warehouse longer than `read_timeout_s`, answers 503 with Retry-After ("数据库正忙");
an action opens a write connection waiting at most `write_timeout_s` and, when that runs out,
is NOT saved and says so — it is never queued to be applied later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from core.errors import WarehouseLockedError
from core.settings import Settings
from warehouse.db import connect, transaction


class WarehouseBusy(Exception):
    """The warehouse is held by a writer (a pipeline run) longer than the console waits."""

    def __init__(self, writing: bool) -> None:
        super().__init__("the warehouse is busy")
        self.writing = writing  # True: an action was to be saved (and was not)


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


@contextmanager
def read(settings: Settings, timeout_s: float, purpose: str = "envmon web") -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for one request; WarehouseBusy when a writer holds the file."""
    try:
        with connect(settings, write=False, timeout_s=timeout_s, purpose=purpose) as con:
            yield con
    except WarehouseLockedError as exc:
        raise WarehouseBusy(writing=False) from exc
    except duckdb.IOException as exc:  # a process outside envmon's lock holds the file
        if _is_lock_error(exc):
            raise WarehouseBusy(writing=False) from exc
        raise


@contextmanager
def write(settings: Settings, timeout_s: float, purpose: str = "envmon web") -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection inside one transaction: all of the block or nothing; WarehouseBusy
    (nothing written) when the lock is not had within `timeout_s`."""
    try:
        with connect(settings, write=True, timeout_s=timeout_s, purpose=purpose) as con, transaction(con):
            yield con
    except WarehouseLockedError as exc:
        raise WarehouseBusy(writing=True) from exc
    except duckdb.IOException as exc:
        if _is_lock_error(exc):
            raise WarehouseBusy(writing=True) from exc
        raise
