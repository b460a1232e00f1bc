"""Pollutant codes (HJ 212-2017 and HJ/T 212-2005) to envmon parameter ids, from codes.csv.

The numbers live in the CSV files next to this module (each row cites standard, edition,
table); this module only loads and looks them up.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
# 2005 flue-gas parameter codes: their presence marks a packet as flue gas when ST is missing.
FLUE_MARKERS = frozenset({"B02", "S01", "S02", "S03", "S04", "S05", "S07", "S08"})


@dataclass(frozen=True)
class CodeInfo:
    code: str
    edition: str  # "2017" or "2005"
    st_scope: tuple[str, ...]  # empty = any ST; "flue" = ST 31 or a flue-gas packet without ST
    parameter: str
    unit: str
    name: str
    source: str
    confirmed: bool
    note: str


@dataclass(frozen=True)
class CodeMapping:
    """The outcome of mapping one code: `info` is None when the code is unknown."""

    code: str
    info: CodeInfo | None
    reason: str | None = None

    @property
    def known(self) -> bool:
        return self.info is not None


def _rows(name: str) -> list[dict[str, str]]:
    with open(_HERE / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


@cache
def code_table() -> dict[str, tuple[CodeInfo, ...]]:
    """code -> its rows (several when the unit or meaning depends on ST)."""
    table: dict[str, list[CodeInfo]] = {}
    for r in _rows("codes.csv"):
        info = CodeInfo(
            code=r["code"],
            edition=r["edition"],
            st_scope=tuple(r["st"].split()),
            parameter=r["parameter"],
            unit=r["unit"],
            name=r["name"],
            source=r["source"],
            confirmed=r["confirmed"] == "C",
            note=r["note"],
        )
        table.setdefault(info.code, []).append(info)
    return {k: tuple(v) for k, v in table.items()}


@cache
def field_kinds() -> dict[str, str]:
    """Field suffix (e.g. 'Avg') -> kind: numeric, flag, text or time (fields.csv)."""
    return {r["suffix"]: r["kind"] for r in _rows("fields.csv")}


def map_code(code: str, st: str | None = None, packet_codes: Iterable[str] = ()) -> CodeMapping:
    """Map a pollutant code as sent to its envmon parameter, given the packet's ST.

    `packet_codes` (the other codes of the packet) resolves 2005 two-digit codes when ST is
    missing or NUL: they count as flue gas when the packet also carries B02/S0x codes.
    """
    rows = code_table().get(code)
    if not rows:
        return CodeMapping(code, None, f"unknown pollutant code {code!r}")
    flue = st == "31" or (st in (None, "") and not FLUE_MARKERS.isdisjoint(packet_codes))
    specific = [r for r in rows if r.st_scope and st is not None and st in r.st_scope]
    if not specific and flue:
        specific = [r for r in rows if "flue" in r.st_scope]
    if specific:
        return CodeMapping(code, specific[0])
    general = [r for r in rows if not r.st_scope]
    if general:
        return CodeMapping(code, general[0])
    return CodeMapping(code, None, f"code {code!r} is not defined for ST={st!r}")
