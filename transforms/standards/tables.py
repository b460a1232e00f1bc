"""Loading the standards' tables (CSV files in ./tables, one citation per row).

Code never types a standard's number: every limit, breakpoint and threshold is read from here.
"""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

TABLES_DIR = Path(__file__).with_name("tables")


@cache
def load(name: str) -> tuple[dict[str, str], ...]:
    """All rows of `tables/<name>.csv` as dicts of strings (cached, read-only)."""
    path = TABLES_DIR / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return tuple(dict(row) for row in csv.DictReader(fh))


def rows(name: str, **match: str) -> list[dict[str, str]]:
    """Rows of a table whose columns equal every `match` value."""
    return [r for r in load(name) if all(r[k] == v for k, v in match.items())]


def one(name: str, **match: str) -> dict[str, str]:
    """The single row matching `match`; a clear error when absent or ambiguous."""
    found = rows(name, **match)
    if len(found) != 1:
        raise LookupError(f"tables/{name}.csv: expected one row for {match}, found {len(found)}")
    return found[0]
