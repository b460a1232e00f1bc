"""CLI tests: a real DuckDB warehouse with the registry loaded, built once and copied per test;
the commands run in-process (typer's CliRunner) with wide tables so ids are not wrapped. The
alerts tests' fixture rows (_alerts_helpers) are importable by name (tests/conftest.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _cli_run import REPO

from core.settings import Settings, reset_settings_cache


@pytest.fixture
def wh(migrated_warehouse: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of this test's home, whose warehouse holds the migrated schema and the registry;
    the alert and case commands print tables 250 columns wide."""
    from envmon.cli import alerts, cases

    monkeypatch.setattr(alerts.console, "width", 250)
    monkeypatch.setattr(cases.console, "width", 250)
    return migrated_warehouse


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo's configuration (registry and rules) this test may edit."""
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(target))
    reset_settings_cache()
    return target
