"""The source's own data flags (HJ 212 `-Flag`) and the QC verdict each one implies.

The mapping is data (source_flags.csv, each row citing its standard and clause), not code.
A flag letter not in the table is suspect: the sender means something we do not know.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from transforms.qc.flags import Flag, parse_flag

SOURCE_FLAGS_CSV = Path(__file__).with_name("source_flags.csv")
UNKNOWN_FLAG_VERDICT = Flag.SUSPECT


@dataclass(frozen=True)
class SourceFlag:
    flag: str
    verdict: Flag
    meaning_en: str
    standard: str
    clause: str


@dataclass(frozen=True)
class SourceFlagTable:
    flags: dict[str, SourceFlag]
    sha256: str

    def verdict(self, letter: str | None) -> Flag:
        if letter is None:
            return Flag.PASS  # stations send no flag: nothing to judge
        known = self.flags.get(letter)
        return known.verdict if known else UNKNOWN_FLAG_VERDICT


@lru_cache(maxsize=4)
def load_source_flags(path: Path = SOURCE_FLAGS_CSV) -> SourceFlagTable:
    text = path.read_text(encoding="utf-8")
    flags: dict[str, SourceFlag] = {}
    for i, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            verdict = parse_flag(row["verdict"])
        except ValueError as exc:
            raise ValueError(f"{path}:{i}: {exc}") from None
        flags[row["flag"]] = SourceFlag(row["flag"], verdict, row["meaning_en"], row["standard"], row["clause"])
    return SourceFlagTable(flags, hashlib.sha256(text.encode("utf-8")).hexdigest())
