"""Fixtures of the standards tests: the real Beijing data."""

from __future__ import annotations

import polars as pl
import pytest


@pytest.fixture(scope="session")
def beijing_hourly() -> pl.DataFrame:
    from transforms.standards.prsa import PRSA_DIR, load_prsa

    if not PRSA_DIR.exists():
        pytest.skip("Beijing PRSA data not available")
    return load_prsa()
