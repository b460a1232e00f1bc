"""Registry configuration: validated as a whole, loaded in one transaction, idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _registry_helpers import edit

from core.errors import ConfigError
from core.registry.config import load_registry
from core.settings import get_settings
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_registry_job

CONFIG = Path(__file__).resolve().parents[2] / "config"




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


# --- logger facts (issue 17): minute interval and period label, defaults per edition ----------


def _first_logger(d: Any) -> dict:
    return d["enterprises"][0]["outlets"][0]["logger"]


def test_logger_facts_default_per_edition(config_dir: Path) -> None:
    """logger_defaults.csv: HJ 212-2017 text (6.3.3: DataTime is the period start; 1 min) for a
    2017 logger, national practice (600 s, end label: the 2016 capture) for a 2005 logger."""
    edit(config_dir, "enterprises.yaml", lambda d: _first_logger(d).update(protocol_edition="HJ212-2005"))
    reg = load_registry(config_dir)
    mns = [o.logger.mn for _, o in reg.outlets.values()]
    first, second = mns[0], mns[1]
    assert reg.outlets[reg.outlet_by_mn[first]][1].logger.protocol_edition == "HJ212-2005"
    assert (reg.logger_facts(first).minute_interval_s, reg.logger_facts(first).hour_label) == (600, "end")
    assert (reg.logger_facts(second).minute_interval_s, reg.logger_facts(second).hour_label) == (60, "start")
    assert reg.logger_facts("NOT-A-LOGGER") is None


def test_logger_facts_set_per_logger_win_and_are_stored(config_dir: Path) -> None:
    edit(config_dir, "enterprises.yaml",
         lambda d: _first_logger(d).update(minute_interval_s=300, hour_label="end"))  # fmt: skip
    init_warehouse()
    reg, _ = load_registry_job()
    mn = next(iter(reg.outlets.values()))[1].logger.mn
    assert (reg.logger_facts(mn).minute_interval_s, reg.logger_facts(mn).hour_label) == (300, "end")
    with connect(write=False) as con:
        rows = con.execute(
            "SELECT logger_mn, protocol_edition, minute_interval_s, hour_label FROM outlets"
        ).fetchall()
    facts = {m: (e, i, h) for m, e, i, h in rows}
    assert facts[mn][1:] == (300, "end")
    # the other loggers: their edition's defaults (logger_defaults.csv), stored as effective values
    defaults = {"HJ212-2017": (60, "start"), "HJ212-2005": (600, "end")}
    loggers = {o.logger.mn: o.logger for _, o in reg.outlets.values()}
    unset = [v for m, v in facts.items() if loggers[m].minute_interval_s is None and loggers[m].hour_label is None]
    assert unset and all((i, h) == defaults[e] for e, i, h in unset)
    own = [(m, v) for m, v in facts.items() if loggers[m].minute_interval_s is not None]
    assert all(v[1] == loggers[m].minute_interval_s for m, v in own)


@pytest.mark.parametrize("seconds", [59, 420, 3600])
def test_minute_interval_outside_hj212_choices_names_file_key_and_choices(config_dir: Path, seconds: int) -> None:
    """HJ 212-2017 Table 9 CN 1064: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 min (minute_intervals.csv)."""
    path = edit(config_dir, "enterprises.yaml", lambda d: _first_logger(d).update(minute_interval_s=seconds))
    msg = _problem(config_dir)
    assert f"{path}: enterprises[0].outlets[0].logger.minute_interval_s" in msg
    assert f"{seconds} s is not a minute-data interval" in msg and "valid choices: 60, 120" in msg and "1800" in msg


@pytest.mark.parametrize("seconds", [60, 600, 1800])
def test_minute_interval_at_the_ends_and_inside_is_accepted(config_dir: Path, seconds: int) -> None:
    edit(config_dir, "enterprises.yaml", lambda d: _first_logger(d).update(minute_interval_s=seconds))
    reg = load_registry(config_dir)
    mn = next(iter(reg.outlets.values()))[1].logger.mn
    assert reg.logger_facts(mn).minute_interval_s == seconds


def test_hour_label_choices(config_dir: Path) -> None:
    path = edit(config_dir, "enterprises.yaml", lambda d: _first_logger(d).update(hour_label="middle"))
    msg = _problem(config_dir)
    assert str(path) in msg and "hour_label" in msg and "'start'" in msg and "'end'" in msg


def test_extra_enterprise_files_join_and_name_themselves_in_errors(config_dir: Path) -> None:
    """`enterprises.<name>.yaml` (e.g. `envmon registry enrol` stubs) join enterprises.yaml."""
    src = yaml.safe_load((config_dir / "registry" / "enterprises.yaml").read_text(encoding="utf-8"))
    ent = src["enterprises"][0]
    ent = {**ent, "enterprise_id": "extra_ent", "outlets": [
        {**ent["outlets"][0], "site_id": "extra_outlet",
         "logger": {"mn": "EXTRA-MN-1", "password": "123456", "protocol_edition": "HJ212-2005"}}]}  # fmt: skip
    extra = config_dir / "registry" / "enterprises.extra.yaml"
    extra.write_text(yaml.safe_dump({"enterprises": [ent]}, allow_unicode=True), encoding="utf-8")
    reg = load_registry(config_dir)
    assert reg.outlet_by_mn["EXTRA-MN-1"] == "extra_outlet"
    assert reg.logger_facts("EXTRA-MN-1").minute_interval_s == 600
    ent["outlets"][0]["logger"]["minute_interval_s"] = 7
    extra.write_text(yaml.safe_dump({"enterprises": [ent]}, allow_unicode=True), encoding="utf-8")
    assert f"{extra}: enterprises[0].outlets[0].logger.minute_interval_s" in _problem(config_dir)


@pytest.mark.parametrize("password", ["******", "*", "CHANGE-ME", "change-me (unknown)"])
def test_masked_or_placeholder_logger_password_is_refused_naming_file_and_key(
    config_dir: Path, password: str
) -> None:
    """Review I8: a masked password (dead letters keep PW=******) or the placeholder `registry
    enrol` writes must never load: a logger sending PW=****** would match it."""
    path = edit(config_dir, "enterprises.yaml", lambda d: _first_logger(d).update(password=password))
    msg = _problem(config_dir)
    assert f"{path}: enterprises[0].outlets[0].logger.password" in msg
    assert ("masked password" in msg) if password.strip("*") == "" else ("placeholder" in msg)


@pytest.mark.parametrize("password", ["1*2", "**a", "CHANGE", "123456"])
def test_logger_passwords_with_asterisks_or_near_the_placeholder_load(config_dir: Path, password: str) -> None:
    edit(config_dir, "enterprises.yaml", lambda d: _first_logger(d).update(password=password))
    reg = load_registry(config_dir)
    assert next(iter(reg.outlets.values()))[1].logger.password == password
