"""Alerts tests: a real DuckDB warehouse with the registry loaded (built once, copied per test)."""

from __future__ import annotations

import pytest

from core.settings import Settings


@pytest.fixture
def wh(migrated_warehouse: Settings) -> Settings:
    """Settings of this test's home, whose warehouse holds the migrated schema and the registry."""
    return migrated_warehouse
