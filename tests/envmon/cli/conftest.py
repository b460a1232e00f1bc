"""CLI tests: a real DuckDB warehouse with the registry loaded, built once and copied per test;
the commands run in-process (typer's CliRunner) with wide tables so ids are not wrapped. The
alerts tests' fixture rows (_alerts_helpers) are importable by name (tests/conftest.py)."""

from __future__ import annotations

import pytest

from core.settings import Settings


@pytest.fixture
def wh(migrated_warehouse: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of this test's home, whose warehouse holds the migrated schema and the registry;
    the alert and case commands print tables 250 columns wide."""
    from envmon.cli import alerts, cases

    monkeypatch.setattr(alerts.console, "width", 250)
    monkeypatch.setattr(cases.console, "width", 250)
    return migrated_warehouse
