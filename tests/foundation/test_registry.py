"""Registry configuration: validated as a whole, loaded in one transaction, idempotent."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from envmon.errors import ConfigError
from envmon.settings import get_settings, reset_settings_cache
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_registry_job
from warehouse.registry.config import load_registry

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG / "registry", target / "registry")
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(target))
    reset_settings_cache()
    return target


def edit(config_dir: Path, name: str, change: Callable[[Any], None]) -> Path:
    path = config_dir / "registry" / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_demo_network_is_valid_and_complete() -> None:
    reg = load_registry(CONFIG)
    kinds = [s.kind for s in reg.stations.values()]
    assert kinds.count("air") == 12
    assert 6 <= kinds.count("water") <= 10
    assert 10 <= kinds.count("noise") <= 20
    assert {s.noise_zone for s in reg.stations.values() if s.kind == "noise"} == {"0", "1", "2", "3", "4a", "4b"}
    assert 20 <= len(reg.enterprises) <= 40
    levels = {g.level for g in reg.grids.values()}
    assert {"city", "district", "park", "township", "street", "key_enterprise", "drinking_water"} <= levels
    assert all(g.officers for g in reg.grids.values()), "every grid has responsible officers"
    assert all(s.name_zh and s.name_en for s in reg.stations.values())
    # every outlet has a logger MN and at least one permit limit
    assert len(reg.outlet_by_mn) == len(reg.outlets)
    assert all(o.permit_limits for _, o in reg.outlets.values())


def test_load_then_reload_changes_nothing(config_dir: Path) -> None:
    init_warehouse()
    _, first = load_registry_job()
    assert first.changed
    with connect(write=False) as con:
        before = con.execute("SELECT count(*) FROM sites").fetchone()
    _, second = load_registry_job()
    assert not second.changed and second.changes == []
    with connect(write=False) as con:
        assert con.execute("SELECT count(*) FROM sites").fetchone() == before
        assert con.execute("SELECT count(*) FROM registry_loads").fetchone() == (1,)


def _problem(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_registry(config_dir)
    return str(err.value)


def test_unknown_key(config_dir: Path) -> None:
    path = edit(config_dir, "stations.yaml", lambda d: d["stations"][0].update(colour="red"))
    msg = _problem(config_dir)
    assert f"{path}: stations[0]" in msg and "'colour'" in msg and "valid keys:" in msg and "name_zh" in msg


def test_missing_field(config_dir: Path) -> None:
    path = edit(config_dir, "stations.yaml", lambda d: d["stations"][2].pop("name_zh"))
    assert f"{path}: stations[2].name_zh: missing required field" in _problem(config_dir)


def test_bad_unit(config_dir: Path) -> None:
    path = edit(config_dir, "parameters.yaml", lambda d: d["parameters"][0].update(unit="ug/m^3"))
    msg = _problem(config_dir)
    assert f"{path}: parameters[0].unit: unknown unit 'ug/m^3'; valid choices:" in msg and "ug/m3" in msg


def test_unit_of_the_wrong_quantity(config_dir: Path) -> None:
    def change(d: Any) -> None:
        d["enterprises"][0]["outlets"][0]["permit_limits"][0]["unit"] = "mg/L"
    path = edit(config_dir, "enterprises.yaml", change)
    msg = _problem(config_dir)
    assert f"{path}: enterprises[0].outlets[0].permit_limits[0].unit" in msg and "does not measure" in msg


def test_duplicate_id(config_dir: Path) -> None:
    def change(d: Any) -> None:
        d["stations"][1]["site_id"] = d["stations"][0]["site_id"]
    path = edit(config_dir, "stations.yaml", change)
    assert f"{path}: stations[1].site_id: duplicate site id" in _problem(config_dir)


def test_site_in_unknown_grid(config_dir: Path) -> None:
    path = edit(config_dir, "stations.yaml", lambda d: d["stations"][3].update(grid_id="atlantis"))
    msg = _problem(config_dir)
    assert f"{path}: stations[3].grid_id: unknown grid 'atlantis'; valid choices:" in msg


def test_bad_choice_lists_valid_ones(config_dir: Path) -> None:
    def change(d: Any) -> None:
        noise = next(s for s in d["stations"] if s["kind"] == "noise")
        noise["noise_zone"] = "5"
    edit(config_dir, "stations.yaml", change)
    msg = _problem(config_dir)
    assert "noise_zone" in msg and "'4a'" in msg


def test_every_problem_is_reported_at_once(config_dir: Path) -> None:
    edit(config_dir, "stations.yaml", lambda d: (d["stations"][0].update(grid_id="nowhere"),
                                                 d["stations"][1].update(grid_id="nowhere_else")))
    msg = _problem(config_dir)
    assert "'nowhere'" in msg and "'nowhere_else'" in msg


def test_invalid_config_leaves_the_stored_registry_intact(config_dir: Path) -> None:
    init_warehouse()
    load_registry_job()
    with connect(write=False) as con:
        before = con.execute("SELECT * FROM sites ORDER BY site_id").fetchall()
    edit(config_dir, "stations.yaml", lambda d: d["stations"][0].update(grid_id="atlantis"))
    with pytest.raises(ConfigError):
        load_registry_job()
    with connect(write=False) as con:
        assert con.execute("SELECT * FROM sites ORDER BY site_id").fetchall() == before


def test_changed_config_replaces_and_reports(config_dir: Path) -> None:
    init_warehouse()
    load_registry_job()
    edit(config_dir, "stations.yaml", lambda d: d["stations"][0].update(name_en="Renamed station"))
    _, result = load_registry_job()
    changes = {c.table: (c.added, c.removed) for c in result.changes}
    assert result.changed and changes["sites"] == (1, 1) and changes["grids"] == (0, 0)
    with connect(write=False) as con:
        assert con.execute("SELECT count(*) FROM sites WHERE name_en = 'Renamed station'").fetchone() == (1,)
    assert get_settings().config_dir == config_dir
