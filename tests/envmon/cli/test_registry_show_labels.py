"""`envmon registry show` names permit-limit statistics, outlet types, industries and grid levels as
people call them, Chinese first and English beside, from the one table core/registry/terms.csv
(each row citing where the term comes from), not by the registry's internal ids (issue #20)."""

from __future__ import annotations

import csv
import re
import typing
from pathlib import Path

import pytest
from _cli_run import invoke
from _registry_helpers import edit

from core.registry import models
from core.registry.config import load_registry
from core.registry.terms import TERMS, term, terms
from envmon.cli import registry as registry_cli


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_cli.console, "width", 1000)  # one entry, one line

def _rows() -> list[dict[str, str]]:
    with TERMS.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_the_table_names_every_id_the_models_allow_and_cites_a_source() -> None:
    named = set(terms())
    for group, literal in (("statistic", models.Statistic), ("grid_level", models.GridLevel),
                           ("role", models.OfficerRole), ("role", models.StaffRole),
                           ("outlet_type", models.Outlet.model_fields["outlet_type"].annotation)):  # fmt: skip
        assert {(group, v) for v in typing.get_args(literal)} <= named, group
    rows = _rows()
    assert len({(r["group"], r["id"]) for r in rows}) == len(rows)  # one definition each
    assert all(r["name_zh"] and r["name_en"] and r["source"] and r["clause"] for r in rows)
    assert {r["source"] for r in rows if r["group"] == "statistic"} == {"HJ 212-2017; HJ 75-2017", "HJ 212-2017"}


def test_term_is_chinese_then_english_and_an_unknown_id_as_it_is() -> None:
    assert term("statistic", "hour_avg") == "小时均值 hourly mean"
    assert term("statistic", "hour_avg_o2") == "小时均值（折算） hourly mean at reference O2"
    assert term("statistic", "day_avg_o2") == "日均值（折算） daily mean at reference O2"
    assert term("industry", "thermal_power") == "火力发电 thermal power generation"
    assert term("industry", "quarrying") == "quarrying"


def test_show_names_statistics_outlet_types_and_industries(config: Path) -> None:
    reg = load_registry(config)
    out = invoke("registry", "show", "--kind", "enterprise").output
    assert not re.search(r"\b(hour_avg|hour_avg_o2|day_avg|day_avg_o2|instant)\b", out)
    assert " flue gas, MN" not in out and " waste water, MN" not in out
    _enterprise, o = reg.outlets["huaneng_gaobeidian_da001"]
    line = next(ln for ln in out.splitlines() if f"MN {o.logger.mn};" in ln)
    limits = ", ".join(f"{lim.parameter} {lim.limit:g} {lim.unit}" for lim in o.permit_limits)
    assert line.strip().startswith(f"废气排放口 flue gas outlet, MN {o.logger.mn}; ")
    assert line.endswith(f"; limits as 小时均值（折算） hourly mean at reference O2: {limits}")
    assert "industry 火力发电 thermal power generation (thermal_power), key monitored 重点排污单位; 统一社会信用代码 " in out
    industries = {ent.industry for ent in reg.enterprises.values()}
    assert [i for i in industries if term("industry", i) == i] == []  # every industry of the demo is named
    wwtp = next(ln for ln in out.splitlines() if "废水排放口 wastewater outlet" in ln)
    assert "; limits as 日均值 daily mean: cod " in wwtp


def test_show_groups_limits_by_statistic_and_keeps_an_unnamed_one(config: Path) -> None:
    def change(d: dict) -> None:
        outlet = d["enterprises"][0]["outlets"][0]
        outlet["permit_limits"].append({"parameter": "so2", "statistic": "day_avg_o2", "limit": 35, "unit": "mg/m3",
                                        "basis": "a test", "valid_from": "2016-01-01"})
        d["enterprises"][0]["industry"] = "quarrying"  # not in the table: shown as it is

    edit(config, "enterprises.yaml", change)
    reg = load_registry(config)
    ent = next(iter(reg.enterprises.values()))
    out = invoke("registry", "show", "--kind", "enterprise").output
    line = next(ln for ln in out.splitlines() if f"MN {ent.outlets[0].logger.mn};" in ln)
    assert line.endswith("; limits as 日均值（折算） daily mean at reference O2: so2 35 mg/m3")
    assert "limits as 小时均值（折算） hourly mean at reference O2: " in line
    assert "industry quarrying;" in out or "industry quarrying," in out


def test_show_names_grid_levels(config: Path) -> None:
    out = invoke("registry", "show", "--kind", "grid").output
    assert "      区级网格 district grid in city; " in out
    assert "      重点排污单位专项网格 key monitored enterprises special grid in city; " in out
    assert "key enterprise" not in out and "drinking water in" not in out


def test_show_people_names_roles_grids_contacts_and_logins(config: Path) -> None:
    out = invoke("registry", "show", "--kind", "people").output
    assert "People 人员 (83: officers by grid, then bureau staff)" in out
    assert "city_leader  王敏 Wang Min\n      网格长 grid leader, 市级网格 (city); 010-66648188, city.leader@eeb.example.gov.cn\n" in out
    assert ("station_tech_zhao  赵磊 Zhao Lei\n      运维人员 station technician, bureau staff; 010-66321507, "
            "zhao.lei@eeb.example.gov.cn; login zhaolei\n") in out
    # roles as people call them, never the internal ids
    assert not re.search(r"^ {6}(responsible|leader|inspector|station_staff|data_reviewer|administrator)\b", out, re.M)


def test_show_enterprise_gives_its_credit_code_and_registered_address(config: Path) -> None:
    out = invoke("registry", "show", "--kind", "enterprise").output
    assert ("huaneng_gaobeidian  华能北京热电厂 Huaneng Beijing Thermal Power Plant\n      industry 火力发电 thermal power "
            "generation (thermal_power), key monitored 重点排污单位; 统一社会信用代码 credit code 91110105950647043T; "
            "注册地址 address 北京市朝阳区高碑店乡西店村甲1号;") in out


def test_validate_warns_of_an_enterprise_without_credit_code_or_address(config: Path) -> None:
    def strip(d: dict) -> None:
        d["enterprises"][0].pop("address")
        d["enterprises"][0].pop("credit_code")
    assert "has no" not in invoke("registry", "validate").output  # the demo registry has both
    edit(config, "enterprises.yaml", strip)
    result = invoke("registry", "validate")
    assert result.exit_code == 0  # a warning, not a problem: the registry loads
    assert ("warning: enterprise 'huaneng_gaobeidian' (华能北京热电厂) has no credit_code (统一社会信用代码) and no "
            "address (注册地址): its cases, notifications and exports will name it without") in result.output
