"""The source's own data flags (HJ 212 `-Flag`, envmon's `BDL`) and the QC verdict each implies.

The mapping is data: the one flag table `core/reading_flags.csv` (each row citing its standard
and clause), which is also the vocabulary the reading contract accepts, so a flag an ingestor
may land always has a verdict here. A flag letter not in the table is suspect: the sender means
something we do not know. Its `usable` column must agree with the verdict (pass or suspect);
the table fails loudly at load, naming the file and line, when it does not.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.contract import FLAGS_CSV
from transforms.qc.flags import VALID_FLAGS, Flag, parse_flag

SOURCE_FLAGS_CSV = FLAGS_CSV
UNKNOWN_FLAG_VERDICT = Flag.SUSPECT
# The flag of a result below the method's detection limit (its value is the limit): set by the
# file ingest ("0.025L", "<0.025"), counted at a fraction of the limit in water means.
FLAG_BELOW_DETECTION = "BDL"


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
    # '#' lines are the table's comment; line numbers stay those of the file
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(line for _, line in lines)
    for (n, _), row in zip(lines[1:], reader, strict=False):
        try:
            verdict = parse_flag(row["verdict"])
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: column 'verdict': {exc}") from None
        if row.get("usable") not in ("true", "false"):
            raise ValueError(f"{path}:{n}: column 'usable': {row.get('usable')!r}; valid: true, false")
        if (row["usable"] == "true") != (verdict in VALID_FLAGS):
            raise ValueError(f"{path}:{n}: flag {row['flag']!r}: usable={row['usable']} contradicts verdict "
                             f"{verdict.label!r} (usable means pass or suspect)")
        flags[row["flag"]] = SourceFlag(row["flag"], verdict, row["meaning"], row["standard"], row["clause"])
    if FLAG_BELOW_DETECTION not in flags:
        raise ValueError(f"{path}: no row for flag {FLAG_BELOW_DETECTION!r} (below the detection limit), "
                         "which the file ingest sets")
    return SourceFlagTable(flags, hashlib.sha256(text.encode("utf-8")).hexdigest())
