"""envmon.cli.registry: `envmon registry validate` (every problem in one pass, warnings for permit
limits no alert rule compares, no warehouse) and `envmon registry show` (issue #20)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _cli_run import invoke
from _registry_helpers import edit

from core.registry.config import load_registry
from core.settings import get_settings
from envmon.cli import registry as registry_cli
from envmon.cli.registry import KINDS, unchecked_permit_limits, validate_config


@pytest.fixture(autouse=True)
def width_80(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_cli.console, "width", 80)




def no_warehouse() -> bool:
    settings = get_settings()
    return not settings.warehouse_path.exists() and not any(settings.home.rglob("*.duckdb"))


def test_validate_the_demo_says_ok_with_the_counts_and_touches_no_warehouse(config: Path) -> None:
    reg = load_registry(config)
    result = invoke("registry", "validate")
    assert result.exit_code == 0, result.output
    ok = next(line for line in result.output.splitlines() if line.startswith("OK: "))
    assert ok.startswith(f"OK: {len(reg.stations)} stations (air 12, water ")
    text = " ".join(result.output.split())
    assert (f"{len(reg.enterprises)} enterprises, {len(reg.outlets)} outlets, {len(reg.grids)} grids, "
            f"{len(reg.parameters)} parameters") in text
    assert no_warehouse()


def test_validate_lists_every_problem_of_every_file_at_once_and_exits_1(config: Path) -> None:
    stations = edit(config, "stations.yaml", lambda d: d["stations"][0].update(colour="red"))
    grids = edit(config, "grids.yaml", lambda d: d["grids"][2].update(parent_id="nowhere"))
    ents = edit(config, "enterprises.yaml", lambda d: d["enterprises"][1].update(grid_id="atlantis"))
    result = invoke("registry", "validate")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"3 problems in {config}:" in text
    assert f"{stations}: stations[0]: unknown key 'colour'" in text or (f"{stations}: stations[0]" in text and "colour" in text)
    assert f"{grids}: grids[2].parent_id: unknown grid 'nowhere'; valid choices:" in text
    assert f"{ents}: enterprises[1].grid_id: unknown grid 'atlantis'; valid choices:" in text
    assert "OK:" not in text and no_warehouse()


def test_validate_warns_of_a_permit_limit_no_rule_compares_and_names_the_rules(config: Path) -> None:
    def change(d: Any) -> None:
        outlet = d["enterprises"][0]["outlets"][0]
        outlet["permit_limits"].append({"parameter": "flue_temp", "statistic": "hour_avg", "limit": 200,
                                        "unit": "degC", "basis": "a test", "valid_from": "2016-01-01"})
    path = edit(config, "enterprises.yaml", change)
    reg = load_registry(config)
    ent = next(iter(reg.enterprises.values()))
    k = len(ent.outlets[0].permit_limits) - 1
    result = invoke("registry", "validate")
    assert result.exit_code == 0, result.output  # a warning, not a problem
    text = " ".join(result.output.split())
    assert (f"warning: {path}: enterprises[0].outlets[0].permit_limits[{k}]: enterprise {ent.enterprise_id!r}, "
            f"outlet {ent.outlets[0].site_id!r}, flue_temp hour_avg 200 degC: no alert rule compares") in text
    assert "the rules on permit limits (config/rules): flue_gas_hour_over_permit (hour_avg_o2: so2, nox, dust)" in text
    assert "OK: " in text


def test_a_limit_on_a_parameter_a_rule_compares_but_on_another_statistic_is_unchecked(config: Path) -> None:
    """so2 is compared as hour_avg_o2 (config/rules/emissions.yaml), not as day_avg."""
    def change(d: Any) -> None:
        d["enterprises"][0]["outlets"][0]["permit_limits"][1]["statistic"] = "day_avg_o2"
    edit(config, "enterprises.yaml", change)
    _, problems, warnings = validate_config(config)
    assert problems == []
    assert [w for w in warnings if "so2 day_avg_o2" in w and "no alert rule" in w]


def test_every_demo_permit_limit_but_those_listed_is_compared_by_a_rule(config: Path) -> None:
    """The check itself: the demo's limits on so2/nox/dust (hour_avg_o2) and cod/nh3n/tp/tn
    (day_avg) and nmhc (hour_avg) are all compared; only what no rule lists is reported."""
    from alerts.rules import load_rules

    reg = load_registry(config)
    rules = load_rules(config, reg).rules
    unchecked = unchecked_permit_limits(reg, rules)
    compared = {("hour_avg_o2", p) for p in ("so2", "nox", "dust")} | {("day_avg", p) for p in ("cod", "nh3n", "tp", "tn")} | {("hour_avg", "nmhc")}
    expected = [(s, o.site_id, lim.parameter) for s, (_, o) in reg.outlets.items() for lim in o.permit_limits
                if (lim.statistic, lim.parameter) not in compared]
    assert len(unchecked) == len(expected)
    assert all(f"outlet {site!r}, {p} " in w for w, (_, site, p) in zip(unchecked, sorted(expected), strict=True))


def test_validate_reports_an_empty_basis_as_a_problem(config: Path) -> None:
    def change(d: Any) -> None:
        d["enterprises"][0]["outlets"][0]["permit_limits"][0]["basis"] = ""
    path = edit(config, "enterprises.yaml", change)
    result = invoke("registry", "validate")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"{path}: enterprises[0].outlets[0].permit_limits[0].basis: enterprise 'huaneng_gaobeidian'" in text


def test_validate_reports_a_rule_on_a_parameter_the_registry_lacks(config: Path) -> None:
    """The alert rules are read against this registry: a rule on a parameter it lacks (here one
    the rules name, or one removed from parameters.yaml) is a problem of `registry validate`."""
    rules = config / "rules" / "emissions.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("parameters: [cod, nh3n, tp, tn]",
                                                               "parameters: [cod, nh3n, tp, tn, benzene]", 1),
                     encoding="utf-8")
    result = invoke("registry", "validate")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert f"1 problem in {config}:" in text
    assert f"{rules}: rules[3].parameters[4]: unknown parameter 'benzene'" in text


def test_show_lists_counts_names_grids_and_officers_in_80_columns(config: Path) -> None:
    from rich.cells import cell_len

    reg = load_registry(config)
    result = invoke("registry", "show")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # within 80 columns, but for a line of one word (the config's path in a deep folder)
    assert all(cell_len(line) <= 80 for line in lines if " " in line.strip()), max(lines, key=cell_len)
    words = set(result.output.split())
    # whole ids: every station, enterprise, outlet, grid and parameter id stands as a word
    ids = [*reg.stations, *reg.enterprises, *reg.outlets, *reg.grids, *reg.parameters]
    assert [i for i in ids if i not in words and f"({i})" not in words and f"{i}," not in words] == []
    text = " ".join(result.output.split())
    assert f"{len(reg.stations)} stations (air 12," in text and f"{len(reg.outlets)} outlets" in text
    dongsi = reg.stations["dongsi"]
    grid = reg.grids[dongsi.grid_id]
    responsible = next(o for o in grid.officers if o.role == "responsible")
    assert (f"dongsi {dongsi.name_zh} {dongsi.name_en} grid {grid.name_zh} {grid.name_en} ({grid.grid_id}), "
            f"责任网格员 responsible officer {responsible.name_zh} {responsible.name_en}") in text
    assert "nmhc 非甲烷总烃 Non-methane hydrocarbons flue gas, mg/m3; HJ 212 code a24088" in text
    assert no_warehouse()


@pytest.mark.parametrize("kind", KINDS)
def test_show_kind_lists_only_that_kind(config: Path, kind: str) -> None:
    reg = load_registry(config)
    out = invoke("registry", "show", "--kind", kind).output
    words = set(out.split())
    station_ids = {s for s, st in reg.stations.items() if st.kind == kind}
    others = {s for s, st in reg.stations.items() if st.kind != kind}
    if kind in ("air", "water", "noise"):
        assert station_ids <= words and not others & words
    if kind in ("enterprise", "outlet"):
        assert set(reg.outlets) <= words and not set(reg.stations) & words
    titles = {"air": "Air stations", "water": "Water sections", "noise": "Noise points", "enterprise": "Enterprises",
              "outlet": "Outlets", "grid": "Grids", "people": "People", "parameter": "Parameters"}
    assert [t for k, t in titles.items() if f"\n{t} " in out] == [titles[kind]]
    if kind == "grid":
        assert set(reg.grids) <= words | {f"({g})" for g in words} and not set(reg.outlets) & words
    if kind == "parameter":
        assert "a24088" in out and not set(reg.stations) & words


def test_show_refuses_an_unknown_kind_naming_the_choices(config: Path) -> None:
    result = invoke("registry", "show", "--kind", "lakes")
    assert result.exit_code == 2
    assert "'lakes'" in result.output and "air, water, noise, enterprise, outlet, grid, people, parameter" in " ".join(
        result.output.replace("│", " ").split())


def test_validate_and_show_need_no_home_state(config: Path) -> None:
    invoke("registry", "validate")
    invoke("registry", "show")
    home = get_settings().home
    assert not home.exists() or [p for p in home.rglob("*") if p.suffix in (".duckdb", ".wal")] == []
    assert os.environ["ENVMON_CONFIG_DIR"] == str(config)


def test_registry_load_warns_of_a_permit_limit_no_rule_compares(config: Path) -> None:
    def change(d: Any) -> None:
        d["enterprises"][0]["outlets"][0]["permit_limits"].append(
            {"parameter": "flue_temp", "statistic": "hour_avg", "limit": 200, "unit": "degC", "basis": "a test",
             "valid_from": "2016-01-01"})
    edit(config, "enterprises.yaml", change)
    invoke("init")
    result = invoke("registry", "load")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "registry loaded:" in text
    assert "warning:" in text and "flue_temp hour_avg 200 degC: no alert rule compares" in text
    assert "registry unchanged" in invoke("registry", "load").output  # said once, when it loads
