"""`envmon alerts ...` as bureau staff use it (issue 20): whole ids readable at 80 columns and
accepted as unique prefixes, sites by the name people know them by, the acting person checked
against the registry and named, filters that name nothing refused with the choices, and no
evaluation of hours that have not come."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _alerts_helpers import add_aggregates, local, rows
from _cli_run import envmon, invoke, main_exit

import core.identity
from envmon.cli import acting
from envmon.cli import alerts as alerts_cli

OUTLET = "huaneng_gaobeidian_da001"  # 华能北京热电厂 燃煤机组烟囱1号; grid key_enterprises
LABEL = "华能北京热电厂 燃煤机组烟囱1号"


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch):
    """The OS login the command runs under: unmapped unless a test says otherwise."""

    def as_login(name: str) -> None:
        monkeypatch.setattr(core.identity, "current_login", lambda: name)

    as_login("nobody_in_the_registry")
    return as_login


def fire(wh) -> tuple[str, str]:
    """An SO2 exceedance at 09:00 local on 3 March 2025; (alert id, case id)."""
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)])
    envmon("alerts", "evaluate", "--from", "2025-03-03 09:00", "--to", "2025-03-03 10:00")
    ((alert_id, case_id),) = rows(wh, "SELECT alert_id, case_id FROM alerts")
    return alert_id, case_id


def test_list_at_80_columns_keeps_ids_whole_and_names_the_site_and_the_actor(wh, login, monkeypatch) -> None:
    alert_id, case_id = fire(wh)
    envmon("alerts", "ack", alert_id, "--by", "station_tech_zhao")
    monkeypatch.setattr(alerts_cli.console, "width", 80)
    out = envmon("alerts", "list")
    assert max(len(line) for line in out.splitlines()) <= 80
    assert any(alert_id in line for line in out.splitlines())  # the whole id on one line
    assert any(case_id in line for line in out.splitlines())
    assert "华能北京热电厂" in out and "燃煤机组烟囱1号" in out and "1.50" in out
    assert "赵磊" in out and "station_tech_zhao" not in out  # the actor by name, not by id


def test_ack_takes_a_unique_prefix_and_records_the_person(wh, login) -> None:
    alert_id, _ = fire(wh)
    out = envmon("alerts", "ack", alert_id[:6].lower(), "--by", "赵磊")
    assert out.startswith(f"{alert_id} acknowledged by 赵磊 Zhao Lei at ")
    assert rows(wh, "SELECT acknowledged_by FROM alerts") == [("station_tech_zhao",)]


def test_ack_refuses_an_unknown_id_and_an_unknown_person(wh, login, monkeypatch, capsys) -> None:
    alert_id, _ = fire(wh)
    code, out, err = main_exit(monkeypatch, capsys, "alerts", "ack", "Azzzz", "--by", "station_tech_zhao")
    assert (code, out) == (2, "") and err.startswith("envmon: error: no alert 'Azzzz'") and err.count("\n") == 1
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "ack", alert_id, "--by", "li")
    assert code == 2 and err.startswith("envmon: error: unknown person 'li'")
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "ack", alert_id)  # no --by, unmapped login
    assert code == 2 and "give --by" in err
    assert rows(wh, "SELECT acknowledged_by FROM alerts") == [(None,)]


def test_without_by_the_login_person_acts_and_cannot_act_as_another(wh, login, monkeypatch, capsys) -> None:
    alert_id, _ = fire(wh)
    login("zhaolei")  # os_users of station_tech_zhao (config/registry/grids.yaml)
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "ack", alert_id, "--by", "admin_zhou")
    assert code == 2 and "cannot act as" in err
    assert "acknowledged by 赵磊 Zhao Lei" in envmon("alerts", "ack", alert_id)
    assert rows(wh, "SELECT acknowledged_by FROM alerts") == [("station_tech_zhao",)]
    # acknowledging twice names who did it first, and when, in local time
    login("zhouhao")
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "ack", alert_id)
    assert code == 2 and "already acknowledged by 赵磊 Zhao Lei (station_tech_zhao) at " in err and "+08:00" in err


def test_silence_by_site_name_and_unsilence_by_prefix(wh, login, monkeypatch, capsys) -> None:
    out = envmon("alerts", "silence", "--site", LABEL, "--from", "2025-03-03 12:00", "--until", "2025-03-04 00:00",
                 "--reason", "calibration", "--by", "station_tech_zhao")
    ((silence_id, site_id, created_by),) = rows(wh, "SELECT silence_id, site_id, created_by FROM silences")
    assert (site_id, created_by) == (OUTLET, "station_tech_zhao")
    assert "from 2025-03-03 12:00+08:00 until 2025-03-04 00:00+08:00, by 赵磊 Zhao Lei" in out
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "silence", "--site", OUTLET, "--until", "2025-03-04 00:00",
                             "--reason", "r")  # no --by, unmapped login
    assert code == 2 and "give --by" in err
    out = envmon("alerts", "unsilence", silence_id[:5], "--by", "admin_zhou")
    assert out.startswith(f"{silence_id} revoked by 周浩 Zhou Hao at ")
    assert rows(wh, "SELECT revoked_by FROM silences") == [("admin_zhou",)]
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "unsilence", silence_id, "--by", "admin_zhou")
    assert code == 2 and "already revoked by 周浩 Zhou Hao (admin_zhou) at " in err


def test_list_filters_that_name_nothing_are_refused_with_the_choices(wh, login, monkeypatch, capsys) -> None:
    alert_id, _ = fire(wh)
    code, out, err = main_exit(monkeypatch, capsys, "alerts", "list", "--state", "open")
    assert (code, out) == (2, "") and err == "envmon: error: unknown alert state 'open'; states: firing, resolved\n"
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "list", "--site", "no_such_site")
    assert code == 2 and "unknown site 'no_such_site'" in err and OUTLET in err
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "list", "--rule", "no_such_rule")
    assert code == 2 and "unknown rule 'no_such_rule'; rules: " in err and "flue_gas_hour_over_permit" in err
    # an outlet name many enterprises share names several sites: refused, naming them
    code, _, err = main_exit(monkeypatch, capsys, "alerts", "list", "--site", "燃气锅炉排气筒1号")
    assert code == 2 and "'燃气锅炉排气筒1号' names " in err and "yizhuang_auto_da001" in err
    # its own Chinese name, when one site has it, is enough
    assert "1 alert(s)" in envmon("alerts", "list", "--site", "燃煤机组烟囱1号")
    # the label people know, or the id: the alert is listed
    for site in (LABEL, OUTLET):
        out = envmon("alerts", "list", "--site", site)
        assert "1 alert(s)" in out and alert_id in out
    assert "1 alert(s)" in envmon("alerts", "list", "--rule", "flue_gas_hour_over_permit")
    assert "0 alert(s)" in envmon("alerts", "list", "--state", "resolved")


def test_evaluate_refuses_hours_that_have_not_come(wh, login, monkeypatch, capsys) -> None:
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)])
    monkeypatch.setattr(acting, "now", lambda: datetime(2025, 3, 3, 1, 59, tzinfo=UTC))  # 09:59 local
    code, out, err = main_exit(monkeypatch, capsys, "alerts", "evaluate", "--from", "2025-03-03 09:00",
                               "--to", "2025-03-03 10:00")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert "has not ended" in err and "2025-03-03T10:00:00+08:00" in err
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]
    monkeypatch.setattr(acting, "now", lambda: datetime(2025, 3, 3, 2, 0, tzinfo=UTC))  # 10:00 local
    assert "1 alerts opened" in envmon("alerts", "evaluate", "--from", "2025-03-03 09:00", "--to", "2025-03-03 10:00")


def test_escalate_names_the_leader_and_speaks_local_time(wh, login) -> None:
    _, case_id = fire(wh)
    result = invoke("alerts", "escalate", "--at", "2025-03-04 10:00")
    assert result.exit_code == 0, result.output
    ((leader,),) = rows(wh, "SELECT name_zh || ' ' || name_en FROM officers WHERE officer_id = 'key_enterprises_leader'")
    assert result.output.splitlines() == [
        "as of 2025-03-04 10:00+08:00:",
        f"{case_id} {LABEL}: escalated to {leader} (key_enterprises_leader)",
        "1 case(s) escalated",
    ]
    ((reason,),) = rows(wh, "SELECT reason FROM case_escalations")
    assert "+08:00" in reason and "UTC" not in reason


def test_an_empty_range_is_refused_in_local_time(wh, login, monkeypatch, capsys) -> None:
    code, out, err = main_exit(monkeypatch, capsys, "alerts", "evaluate", "--from", "2025-03-03 10:00",
                               "--to", "2025-03-03 09:00")
    assert (code, out) == (2, "")
    assert err == ("envmon: error: nothing to evaluate: the end 2025-03-03T09:00:00+08:00 must be after the start "
                   "2025-03-03T10:00:00+08:00\n")
