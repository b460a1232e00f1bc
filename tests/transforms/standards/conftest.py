"""Fixtures of the standards tests: the real Beijing data."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def beijing_hourly() -> pl.DataFrame:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from bench.prsa import PRSA_DIR, load_prsa

    if not PRSA_DIR.exists():
        pytest.skip("Beijing PRSA data not available")
    return load_prsa()
