"""Alerts tests: a real DuckDB warehouse with the registry loaded (built once, copied per test)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import get_settings, reset_settings_cache
from warehouse.jobs import init_warehouse, load_registry_job


@pytest.fixture(scope="session")
def _template_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alerts_template")
    mp = pytest.MonkeyPatch()
    mp.setenv("ENVMON_HOME", str(home))
    reset_settings_cache()
    try:
        settings = get_settings()
        init_warehouse(settings)
        load_registry_job(settings)
        return Path(settings.warehouse_path)
    finally:
        mp.undo()
        reset_settings_cache()


@pytest.fixture
def wh(_template_warehouse: Path) -> Iterator[object]:
    """Settings of this test's home, whose warehouse holds the migrated schema and the registry."""
    settings = get_settings()
    Path(settings.home).mkdir(parents=True, exist_ok=True)
    shutil.copy(_template_warehouse, settings.warehouse_path)
    yield settings
