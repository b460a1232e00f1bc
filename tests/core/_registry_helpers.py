"""Helpers of the registry tests: edit one YAML file of a copied registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def edit(config_dir: Path, name: str, change: Callable[[Any], None]) -> Path:
    """Apply `change` to the data of config_dir/registry/`name` and write it back; the path."""
    path = config_dir / "registry" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
