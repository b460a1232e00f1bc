"""What people call the registry's internal ids (core/registry/terms.csv): a permit limit's
statistic, an outlet type, an industry, a grid level — Chinese first, English beside. The one
reader of the table, for the CLI and the staff console."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

TERMS = Path(__file__).with_name("terms.csv")


@cache
def terms() -> dict[tuple[str, str], tuple[str, str]]:
    """(group, id) -> (Chinese, English)."""
    with TERMS.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {(r["group"], r["id"]): (r["name_zh"], r["name_en"]) for r in rows}


def term(group: str, ident: str) -> str:
    """'小时均值（折算） hourly mean at reference O2': an id as people call it, Chinese first; an
    id the table does not name is shown as it is."""
    names = terms().get((group, ident))
    return f"{names[0]} {names[1]}" if names else ident
