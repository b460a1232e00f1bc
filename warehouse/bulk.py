"""Set-based writes: many rows in one statement instead of one statement per row."""

from __future__ import annotations

from typing import Any

import duckdb


def insert_rows(
    con: duckdb.DuckDBPyConnection, insert: str, rows: list[tuple[Any, ...]], width: int
) -> None:
    """`insert` (e.g. "INSERT OR IGNORE INTO t") the rows in one statement: each column is
    passed as a list and unnested side by side — binding a list is one conversion, while
    thousands of single-row statements or VALUES placeholders are not."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    if len(columns) != width:
        raise ValueError(f"{insert}: rows of {len(columns)} values, expected {width}")
    con.execute(f"{insert} SELECT {', '.join(f'unnest(${i + 1})' for i in range(width))}", columns)
