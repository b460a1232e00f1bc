"""`envmon cases ...` in-process on a real warehouse: list, show, the workflow with a deadline
typed in local time, notes, export, and a refused move."""

from __future__ import annotations

import csv
from pathlib import Path

from _alerts_helpers import add_aggregates, local, rows
from typer.testing import CliRunner, Result

from alerts.cases import CaseError
from alerts.jobs import evaluate_rules
from envmon.cli import app

OUTLET = "huaneng_gaobeidian_da001"  # so2 limit 50 mg/m3 (hour_avg_o2); grid key_enterprises
INSPECTOR = "key_enterprises_inspector"


def envmon(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def open_case(wh) -> str:
    t0 = local(2025, 3, 3, 9)
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(t0, 75.0)])
    evaluate_rules(wh, t0, local(2025, 3, 3, 10), rule_ids=["flue_gas_hour_over_permit"])
    ((case_id,),) = rows(wh, "SELECT case_id FROM cases")
    return case_id


LEADER = "key_enterprises_leader"  # 徐明 Xu Ming


def test_list_and_show(wh) -> None:
    case_id = open_case(wh)
    listed = envmon("cases", "list").output
    assert "1 case(s)" in listed
    line = next(line for line in listed.splitlines() if case_id in line)
    for cell in ("待派发 open", "华能北京热电厂 燃煤机组烟囱1号", "emission_exceedance", "孙伟"):
        assert cell in line
    assert "2025-03-03 10:00" in line and "1.50" in line  # opened at the end of the hour, local
    assert "0 case(s)" in envmon("cases", "list", "--state", "closed").output
    assert "0 case(s)" in envmon("cases", "list", "--state", "已销号").output
    assert "1 case(s)" in envmon("cases", "list", "--grid", "key_enterprises").output
    assert "1 case(s)" in envmon("cases", "list", "--grid", "重点排污单位专项网格").output
    assert "1 case(s)" in envmon("cases", "list", "--officer", "key_enterprises_responsible").output
    shown = envmon("cases", "show", case_id).output
    assert shown.splitlines()[0].startswith(f"{case_id} 华能北京热电厂 燃煤机组烟囱1号")
    assert "  state: 待派发 open" in shown and "  opened: 2025-03-03 10:00+08:00" in shown
    assert "  enterprise: 华能北京热电厂 Huaneng Beijing Thermal Power Plant (credit code 91110105950647043T" in shown
    assert "  officer: 孙伟 Sun Wei (key_enterprises_responsible, 010-69760210)" in shown
    assert "│ 1   │ 2025-03-03 10:00+08:00 │ 系统 system │ opened │" in shown  # the first event
    assert "│ so2       │ 2025-03-03 09:00+08:00 │ 75    │ 50          │ mg/m3 │ 1.5      │ True" in shown


def test_workflow_with_a_local_deadline(wh) -> None:
    case_id = open_case(wh)
    result = envmon("cases", "assign", case_id, "--to", "胡军", "--by", LEADER, "--at", "2025-03-03 11:00")
    assert result.output.strip() == (
        f"{case_id}: assigned to 胡军 Hu Jun ({INSPECTOR}) by 徐明 Xu Ming at 2025-03-03 11:00+08:00 (event 2)")
    assert envmon("cases", "move", case_id, "--to", "核查中", "--by", INSPECTOR,
                  "--at", "2025-03-03 12:00").exit_code == 0
    result = envmon(
        "cases", "move", case_id, "--to", "rectification_ordered", "--by", INSPECTOR, "--at", "2025-03-03 13:00",
        "--deadline", "2025-03-05", "--note", "fix the desulphuriser",
    )  # fmt: skip
    assert result.output.strip() == (
        f"{case_id}: now 整改中 rectification_ordered, deadline 2025-03-05 24:00 (2025-03-06 00:00+08:00) "
        "by 胡军 Hu Jun at 2025-03-03 13:00+08:00 (event 4)")
    # a deadline typed as a date is the end of that local day
    assert rows(wh, "SELECT state, deadline FROM cases") == [("rectification_ordered", local(2025, 3, 6, 0))]
    result = envmon("cases", "note", case_id[:6], "--by", "孙芳", "--note", "site visited", "--at", "2025-03-03 14:00")
    assert result.output.strip() == f"{case_id}: note added by 孙芳 Sun Fang at 2025-03-03 14:00+08:00 (event 5)"
    assert rows(wh, "SELECT actor, action, note FROM case_events WHERE seq >= 4 ORDER BY seq") == [
        (INSPECTOR, "state_changed",
         "deadline 2025-03-05 24:00 (2025-03-06 00:00+08:00); fix the desulphuriser"),
        ("data_reviewer_sun", "note", "site visited"),
    ]


def test_a_deadline_with_a_time_is_that_instant(wh) -> None:
    case_id = open_case(wh)
    for args in (("assign", "--to", INSPECTOR, "--by", LEADER), ("move", "--to", "under_inspection", "--by", INSPECTOR)):
        assert envmon("cases", args[0], case_id, *args[1:], "--at", "2025-03-03 11:00").exit_code == 0
    result = envmon("cases", "move", case_id, "--to", "rectification_ordered", "--by", INSPECTOR,
                    "--at", "2025-03-03 12:00", "--deadline", "2025-03-05 17:00")
    assert "deadline 2025-03-05 17:00+08:00 by" in result.output
    assert rows(wh, "SELECT deadline FROM cases") == [(local(2025, 3, 5, 17),)]


def test_a_refused_move_is_an_error_naming_the_allowed_states(wh) -> None:
    case_id = open_case(wh)
    result = envmon("cases", "move", case_id, "--to", "closed", "--by", LEADER, "--note", "x")
    assert result.exit_code != 0 and isinstance(result.exception, CaseError)
    assert "cannot move to closed; allowed: assigned, dismissed" in str(result.exception)
    assert rows(wh, "SELECT state FROM cases") == [("open",)]


def test_unknown_filters_are_refused_with_the_choices(wh) -> None:
    open_case(wh)
    result = envmon("cases", "list", "--state", "closd")
    assert isinstance(result.exception, CaseError)
    assert "unknown state 'closd'; states: 待派发 open, 已派发 assigned" in str(result.exception)
    result = envmon("cases", "list", "--grid", "nowhere")
    assert isinstance(result.exception, CaseError) and "key_enterprises 重点排污单位专项网格" in str(result.exception)
    result = envmon("cases", "list", "--officer", "nobody")
    assert isinstance(result.exception, CaseError) and "unknown officer 'nobody'" in str(result.exception)
    result = envmon("cases", "list", "--officer", "王敏")  # city leader and Daxing's leader
    assert isinstance(result.exception, CaseError) and "city_leader" in str(result.exception)


def test_unknown_person_is_refused(wh) -> None:
    case_id = open_case(wh)
    result = envmon("cases", "note", case_id, "--by", "li", "--note", "x")
    assert result.exit_code != 0 and "unknown person 'li'" in str(result.exception)
    assert rows(wh, "SELECT count(*) FROM case_events WHERE action = 'note'") == [(0,)]


def test_export_csv(wh, tmp_path: Path) -> None:
    case_id = open_case(wh)
    out = tmp_path / "cases.csv"
    result = envmon("cases", "export", "--out", str(out))
    assert result.output.strip() == f"1 case(s) written to {out}"
    with out.open(encoding="utf-8-sig", newline="") as fh:
        (record,) = list(csv.DictReader(fh))
    assert (record["案件编号 case_id"], record["状态 state_label"], record["网格员 officer_name_zh"],
            record["企业名称 enterprise_name_zh"]) == (case_id, "待派发 open", "孙伟", "华能北京热电厂")
    empty = tmp_path / "none.csv"
    assert (
        "0 case(s) written"
        in envmon("cases", "export", "--out", str(empty), "--state", "closed").output
    )


def test_an_action_later_than_now_is_refused(wh) -> None:
    case_id = open_case(wh)
    result = envmon("cases", "assign", case_id, "--to", INSPECTOR, "--by", LEADER, "--at", "2999-01-01 09:00")
    assert result.exit_code != 0 and "is later than now" in str(result.exception)
    assert rows(wh, "SELECT state FROM cases") == [("open",)]


def test_the_deadline_rule_is_in_the_help_and_shown_back(wh) -> None:
    import re

    text = re.sub(r"[\s│]+", " ", envmon("cases", "move", "--help").output)
    assert "a date (2026-12-05) means BY THE END of that day" in text
    case_id = open_case(wh)
    for args in (("assign", "--to", INSPECTOR, "--by", LEADER), ("move", "--to", "under_inspection", "--by", INSPECTOR),
                 ("move", "--to", "整改中", "--by", INSPECTOR, "--deadline", "2025-03-05")):
        assert envmon("cases", args[0], case_id, *args[1:], "--at", "2025-03-03 11:00").exit_code == 0
    shown = envmon("cases", "show", case_id).output
    assert "  deadline: 2025-03-05 24:00 (2025-03-06 00:00+08:00)" in shown
    assert "  state: 整改中 rectification_ordered" in shown
