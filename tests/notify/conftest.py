"""Notify tests: a real DuckDB warehouse with the registry loaded (the officers' e-mail
addresses), built once and copied per test; the alerts tests' fixture rows (_alerts_helpers,
importable by name: tests/conftest.py) fire real alerts."""

from __future__ import annotations

import pytest

from core.settings import Settings


@pytest.fixture
def wh(migrated_warehouse: Settings) -> Settings:
    """Settings of this test's home, whose warehouse holds the migrated schema and the registry."""
    return migrated_warehouse
