"""Fixtures for the file-ingestion tests: a fresh ENVMON_HOME per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, get_settings, reset_settings_cache


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path / "home"))
    for var in ("ENVMON_SETTINGS", "ENVMON_LANDING", "ENVMON_WAREHOUSE", "ENVMON_CONFIG_DIR", "ENVMON_SITE_DIR"):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    yield get_settings()
    reset_settings_cache()
