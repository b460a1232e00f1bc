"""Fixtures of the publishing tests: a real DuckDB warehouse (init + registry, a copy of the
session's template) into which the tests insert derived rows (_publish_helpers); Debian's
Chromium driven by Playwright for the browser tests."""

from __future__ import annotations

import pytest

from core.settings import Settings


@pytest.fixture
def warehouse(migrated_warehouse: Settings) -> Settings:
    return migrated_warehouse
