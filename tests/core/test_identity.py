"""Who acts (core.identity): the registry's people, found by id or name; the acting person is
the login's, or one named and checked; unknown people and logins acting as others refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from _registry_helpers import edit

from core.errors import ConfigError
from core.identity import People, UnknownPersonError, acting_person, load_people
from core.registry.config import load_registry
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_registry_job

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def people() -> People:
    return load_people(CONFIG)


def test_officers_and_staff_are_people_with_names(people: People) -> None:
    leader = people.find("city_leader")
    assert (leader.name, leader.role, leader.grid_id, leader.phone) == ("王敏 Wang Min", "leader", "city", "010-66648188")
    assert str(leader) == "王敏 Wang Min (city_leader)"
    tech = people.find("station_tech_zhao")
    assert (tech.role, tech.grid_id, tech.is_officer, leader.is_officer) == ("station_staff", None, False, True)


def test_found_by_chinese_or_english_name_and_ambiguous_names_list_the_ids(people: People) -> None:
    assert people.find("赵磊").person_id == "station_tech_zhao"
    assert people.find("zhao lei").person_id == "station_tech_zhao"  # any case
    assert people.find("  周浩 ").person_id == "admin_zhou"
    with pytest.raises(UnknownPersonError) as err:
        people.find("李艳")  # four officers share the name
    assert "city_responsible" in str(err.value) and "daxing_responsible" in str(err.value)
    assert "give the id" in str(err.value)


def test_unknown_person_refused(people: People) -> None:
    with pytest.raises(UnknownPersonError, match="unknown person 'alice'"):
        people.find("alice")
    with pytest.raises(UnknownPersonError, match="unknown person 'alice'"):
        acting_person(people, "alice", login="nobody")


def test_the_login_decides_who_acts(people: People) -> None:
    assert acting_person(people, None, login="zhaolei").person_id == "station_tech_zhao"
    assert acting_person(people, "赵磊", login="zhaolei").person_id == "station_tech_zhao"  # naming oneself
    with pytest.raises(UnknownPersonError, match="cannot act as 王敏 Wang Min"):
        acting_person(people, "city_leader", login="zhaolei")
    # an unmapped login names the person explicitly, checked against the registry
    assert acting_person(people, "city_leader", login="root").person_id == "city_leader"
    with pytest.raises(UnknownPersonError, match="login 'root' is not mapped"):
        acting_person(people, None, login="root")
    with pytest.raises(UnknownPersonError, match="not mapped"):
        acting_person(people, "  ", login="root")


def test_the_os_login_is_read_when_none_given(people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.identity.current_login", lambda: "sunfang")
    assert acting_person(people, None).person_id == "data_reviewer_sun"


def _problem(config_dir: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_registry(config_dir)
    return str(err.value)


def test_one_login_names_one_person(config_dir: Path) -> None:
    def give_login(d: dict) -> None:
        d["grids"][0]["officers"][0]["os_users"] = ["zhaolei"]  # already 赵磊's
    edit(config_dir, "grids.yaml", give_login)
    text = _problem(config_dir)
    assert "grids.yaml" in text and "staff[0].os_users" in text and "login 'zhaolei' is already" in text


def test_a_staff_id_may_not_repeat_an_officer_id(config_dir: Path) -> None:
    edit(config_dir, "grids.yaml", lambda d: d["staff"][0].update(person_id="city_leader"))
    text = _problem(config_dir)
    assert "staff[0].person_id" in text and "duplicate id 'city_leader'" in text and "grids[0].officers[0]" in text


def test_a_staff_role_is_one_of_the_roles(config_dir: Path) -> None:
    edit(config_dir, "grids.yaml", lambda d: d["staff"][0].update(role="boss"))
    text = _problem(config_dir)
    assert "station_staff" in text and "administrator" in text


def test_staff_and_addresses_reach_the_warehouse(config_dir: Path) -> None:
    init_warehouse()
    load_registry_job()
    with connect(write=False) as con:
        assert con.execute("SELECT name_zh, role FROM staff WHERE person_id = 'data_reviewer_sun'").fetchall() == [
            ("孙芳", "data_reviewer")]
        assert con.execute("SELECT name_zh, grid_id FROM v_people WHERE person_id IN ('admin_zhou', 'city_leader') "
                           "ORDER BY person_id").fetchall() == [("周浩", None), ("王敏", "city")]
        label = con.execute("SELECT label_zh, label_en, credit_code, enterprise_address FROM v_site_labels "
                            "WHERE site_id = 'huaneng_gaobeidian_da001'").fetchall()
        assert label == [("华能北京热电厂 燃煤机组烟囱1号", "Huaneng Beijing Thermal Power Plant, coal-fired unit stack no. 1",
                          "91110105950647043T", "北京市朝阳区高碑店乡西店村甲1号")]
        station = con.execute("SELECT label_zh, enterprise_id FROM v_site_labels WHERE kind = 'air' LIMIT 1").fetchall()
        assert station[0][1] is None and station[0][0]  # a station is named by itself
        # every enterprise of the demo registry has its registered address
        assert con.execute("SELECT count(*) FROM enterprises WHERE address IS NULL OR address = ''").fetchall() == [(0,)]
