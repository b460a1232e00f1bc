"""Fixtures of the core tests: a copy of the registry's configuration to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.settings import reset_settings_cache

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG / "registry", target / "registry")
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(target))
    reset_settings_cache()
    return target
