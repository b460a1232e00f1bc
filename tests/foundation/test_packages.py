"""The top-level package names are generic: each must resolve to this repository."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["envmon", "ingest", "transforms", "alerts", "warehouse"])
def test_package_resolves_to_this_repository(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPO / name


@pytest.mark.parametrize("name", ["envmon", "ingest", "transforms", "alerts", "warehouse"])
def test_package_resolves_from_another_directory(name: str, tmp_path: Path) -> None:
    """An installed envmon finds these packages even when run outside the clone."""
    out = subprocess.run(
        [sys.executable, "-c", f"import {name}, pathlib; print(pathlib.Path({name}.__file__).resolve().parent)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert Path(out.stdout.strip()) == REPO / name


def test_top_level_folders_exist() -> None:
    for folder in ("dags", "config", "tests", "bench", "warehouse/migrations"):
        assert (REPO / folder).is_dir(), folder
