"""The single ordered QC flag scale: a reading's verdict is the worst (highest) flag it got.

    pass (0) < suspect (1) < fail (2) < missing (3)

- pass: every check that ran accepted the value.
- suspect: kept and counted as valid, but worth a look (HJ 212 `T`, a spike, a flat line...).
- fail: not a valid value; excluded from aggregates.
- missing: no value at all (null); worse than fail because there is nothing to review.
- not_evaluated: no QC run has covered the reading yet. It is not a point on the scale (it
  never wins a max); the view `v_readings_qc` shows it where a reading has no verdict.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Flag(IntEnum):
    PASS = 0
    SUSPECT = 1
    FAIL = 2
    MISSING = 3

    @property
    def label(self) -> str:
        return self.name.lower()


NOT_EVALUATED = "not_evaluated"

# Verdicts that count as valid data for availability and aggregation.
VALID_FLAGS = (Flag.PASS, Flag.SUSPECT)

LABELS = {f.label: f for f in Flag}


def parse_flag(label: str) -> Flag:
    try:
        return LABELS[label]
    except KeyError:
        raise ValueError(f"unknown flag {label!r}; valid flags: {', '.join(LABELS)}") from None


def worst(*flags: np.ndarray) -> np.ndarray:
    """Element-wise worst flag of several int8 flag arrays."""
    out = np.zeros_like(flags[0], dtype=np.int8)
    for f in flags:
        np.maximum(out, f, out=out)
    return out
