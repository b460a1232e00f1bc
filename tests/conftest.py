"""Fixtures shared by every test: an isolated ENVMON_HOME so no test touches ./var."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, get_settings, reset_settings_cache

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own state folder unless it sets ENVMON_HOME itself."""
    home = tmp_path_factory.mktemp("envmon_home")
    monkeypatch.setenv("ENVMON_HOME", str(home))
    for var in ("ENVMON_SETTINGS", "ENVMON_WAREHOUSE", "ENVMON_LANDING", "ENVMON_SITE_DIR", "ENVMON_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def settings() -> Settings:
    return get_settings()
