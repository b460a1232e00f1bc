"""Boundary noise points (厂界噪声监测点, GB 12348-2008) in the registry: the demo has them, the
checks refuse inconsistent ones naming file, key and choices, and the store keeps their facts
(table noise_points, migration 0096)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import ConfigError
from core.registry.config import load_registry
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_registry_job

CONFIG = Path(__file__).resolve().parents[3] / "config"


def _edit_point(config_dir: Path, site_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = config_dir / "registry" / "stations.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(next(s for s in data["stations"] if s["site_id"] == site_id))
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _problem(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_registry(config_dir)
    return str(err.value)


def test_the_demo_has_boundary_points_of_its_enterprises() -> None:
    reg = load_registry(CONFIG)
    points = [s for s in reg.stations.values() if s.noise_standard == "GB12348-2008"]
    assert 2 <= len(points) <= 4
    assert all(s.kind == "noise" and s.enterprise_id in reg.enterprises for s in points)
    assert any(s.noise_indoor for s in points)  # 室内测量
    assert any(s.noise_zone in ("4a", "4b") for s in points)  # GB 12348 class 4
    assert {s.night_sudden_noise for s in points} == {"frequent", "sporadic"}
    ambient = [s for s in reg.stations.values() if s.kind == "noise" and s not in points]
    assert all(s.noise_standard is None and s.enterprise_id is None for s in ambient)


@pytest.mark.parametrize(
    ("site_id", "change", "key", "reason"),
    [
        ("nb_yizhuang_auto_east", {"enterprise_id": "no_such_plant"}, "enterprise_id", "unknown enterprise 'no_such_plant'"),
        ("nb_yizhuang_auto_east", {"enterprise_id": None}, "enterprise_id", "needs the enterprise"),
        ("nb_yizhuang_auto_east", {"night_sudden_noise": None}, "night_sudden_noise", "valid choices: frequent, sporadic"),
        ("nb_yizhuang_auto_east", {"noise_standard": None}, "noise_standard", "valid choices: GB12348-2008"),
        ("nz_dongsi_res", {"noise_indoor": True}, "noise_indoor", "set noise_standard: GB12348-2008"),
        ("dongsi", {"noise_standard": "GB12348-2008"}, "noise_standard", "only a noise point"),
    ],
)  # fmt: skip
def test_inconsistent_boundary_points_are_refused(
    config_dir: Path, site_id: str, change: dict[str, Any], key: str, reason: str
) -> None:
    _edit_point(config_dir, site_id, lambda s: s.update(change))
    msg = _problem(config_dir)
    assert "stations.yaml" in msg and f".{key}" in msg and reason in msg


def test_a_bad_kind_of_sudden_noise_lists_the_choices(config_dir: Path) -> None:
    _edit_point(config_dir, "nb_yizhuang_auto_east", lambda s: s.update(night_sudden_noise="often"))
    msg = _problem(config_dir)
    assert "night_sudden_noise" in msg and "'frequent'" in msg and "'sporadic'" in msg


def test_the_store_keeps_the_points_facts(config_dir: Path) -> None:
    init_warehouse()
    load_registry_job()
    with connect(write=False) as con:
        rows = con.execute(
            """SELECT s.site_id, p.noise_standard, p.enterprise_id, p.indoor, p.night_sudden_noise
               FROM sites s LEFT JOIN noise_points p USING (site_id)
               WHERE s.site_id IN ('nb_yanshan_petrochem_north', 'nz_dongsi_res', 'dongsi')
               ORDER BY s.site_id"""
        ).fetchall()
        n_points = con.execute("SELECT count(*) FROM noise_points").fetchone()
        n_noise = con.execute("SELECT count(*) FROM sites WHERE kind = 'noise'").fetchone()
    assert rows == [
        ("dongsi", None, None, None, None),  # not a noise point: no row
        ("nb_yanshan_petrochem_north", "GB12348-2008", "yanshan_petrochem", True, "frequent"),
        ("nz_dongsi_res", "GB3096-2008", None, False, None),  # an ambient point's standard
    ]
    assert n_points == n_noise
