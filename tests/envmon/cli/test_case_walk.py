"""Acceptance (issue 20): a case walked through the command line over a PAST scenario, in local
time, by three people — the grid's officer (胡军 Hu Jun, inspector), its leader (徐明 Xu Ming)
and a leader of another grid (张平 Zhang Ping, Dongcheng), who is refused — from opening to
closure (销号) and reopening, with the exceedance continuing three local days after the
rectification order and the continuing-days count (按日连续处罚) reaching 3."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _alerts_helpers import add_aggregates, hours, local, rows
from typer.testing import CliRunner, Result

from alerts.cases import CaseError
from envmon.cli import app

OUTLET = "huaneng_gaobeidian_da001"  # 华能北京热电厂 燃煤机组烟囱1号; so2 limit 50 (hour_avg_o2)
# key_enterprises' inspector 胡军 and leader 徐明 (their names are shared with officers of other
# grids, so --by gives the ids; `--to 胡军` means the 胡军 of the case's grid)
OFFICER, LEADER, OTHER = "key_enterprises_inspector", "key_enterprises_leader", "dongcheng_leader"


def envmon(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = envmon(*args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def refused(*args: str, says: str) -> None:
    result = envmon(*args)
    assert result.exit_code != 0 and isinstance(result.exception, CaseError), (args, result.output)
    assert says in str(result.exception), str(result.exception)


def test_a_case_from_opening_to_closure_and_reopening(wh, monkeypatch: pytest.MonkeyPatch) -> None:
    from envmon.cli import cases

    # 3 March 2025 09:00 local: SO2 75 mg/m3 over the 50 limit; then normal until the order
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)]
                   + [(t, 40.0) for t in hours(local(2025, 3, 3, 10), 2)])
    ok("alerts", "evaluate", "--from", "2025-03-03 09:00", "--to", "2025-03-03 12:00")
    ((case_id,),) = rows(wh, "SELECT case_id FROM cases")
    assert case_id.startswith("C20250303-")
    short = case_id[:12]  # a unique start of the id is accepted everywhere

    # the leader assigns it to the inspector by name; the inspector inspects and orders rectification
    out = ok("cases", "assign", short, "--to", "胡军", "--by", LEADER, "--at", "2025-03-03 14:00")
    assert out.strip() == (f"{case_id}: assigned to 胡军 Hu Jun (key_enterprises_inspector) by 徐明 Xu Ming "
                           "at 2025-03-03 14:00+08:00 (event 3)")
    refused("cases", "move", short, "--to", "under_inspection", "--by", OTHER, "--at", "2025-03-03 14:30",
            says="张平 Zhang Ping (dongcheng_leader) is an officer of 东城区网格")
    ok("cases", "move", short, "--to", "核查中", "--by", OFFICER, "--at", "2025-03-03 15:00")
    out = ok("cases", "move", short, "--to", "rectification_ordered", "--by", OFFICER, "--at", "2025-03-03 16:00",
             "--deadline", "2025-03-05", "--note", "整改脱硫设施")
    assert "deadline 2025-03-05 24:00 (2025-03-06 00:00+08:00)" in out

    # the exceedance continues: one hour over the limit on each of the next three local days
    bad = {local(2025, 3, d, 8) for d in (4, 5, 6)}
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2",
                   [(t, 80.0 if t in bad else 40.0) for t in hours(local(2025, 3, 3, 12), 84)])
    ok("alerts", "evaluate", "--from", "2025-03-03 12:00", "--to", "2025-03-07 00:00")
    out = ok("alerts", "escalate", "--at", "2025-03-07 00:00")  # past: the recount as of then
    assert f"{case_id}: exceedance continued on 3 day(s) after the rectification order" in out
    shown = ok("cases", "show", short)
    assert "continuing days after the order (按日连续处罚): 3 (2025-03-04, 2025-03-05, 2025-03-06)" in shown

    # verification by the officer; closure: the officer and another grid's leader are refused
    ok("cases", "move", short, "--to", "verified", "--by", OFFICER, "--at", "2025-03-08 10:00",
       "--note", "复测达标")
    refused("cases", "move", short, "--to", "closed", "--by", OFFICER, "--at", "2025-03-08 11:00", "--note", "x",
            says="the nearest is 徐明 Xu Ming (key_enterprises_leader, 010-66278762)")
    refused("cases", "move", short, "--to", "closed", "--by", OTHER, "--at", "2025-03-08 11:00", "--note", "x",
            says="only a leader of its grid 重点排污单位专项网格")
    refused("cases", "move", short, "--to", "closed", "--by", LEADER, "--at", "2025-03-08 11:00",
            says="needs a note")
    out = ok("cases", "move", short, "--to", "已销号", "--by", LEADER, "--at", "2025-03-08 11:00",
             "--note", "整改报告已审核")
    assert out.startswith(f"{case_id}: now 已销号 closed by 徐明 Xu Ming at 2025-03-08 11:00+08:00 (event ")

    # reopened by the officer within the period (reopen_days), history kept
    refused("cases", "reopen", short, "--by", OTHER, "--at", "2025-03-10 09:00", "--note", "x",
            says="is an officer of 东城区网格")
    out = ok("cases", "reopen", short, "--by", OFFICER, "--at", "2025-03-10 09:00", "--note", "夜间再次冒黑烟")
    assert f"{case_id}: reopened, now 已派发 assigned by 胡军 Hu Jun at 2025-03-10 09:00+08:00" in out

    shown = ok("cases", "show", short)
    assert shown.splitlines()[0].startswith(f"{case_id} 华能北京热电厂 燃煤机组烟囱1号")
    for line in (
        "  state: 已派发 assigned",
        "  enterprise: 华能北京热电厂 Huaneng Beijing Thermal Power Plant (credit code 91110105950647043T; "
        "北京市朝阳区高碑店乡西店村甲1号)",
        "  officer: 胡军 Hu Jun (key_enterprises_inspector, 010-64584185)",
        "  opened: 2025-03-03 10:00+08:00",
        "  rectification ordered: 2025-03-03 16:00+08:00",
        "  escalated to: 徐明 Xu Ming (key_enterprises_leader) at 2025-03-07 00:00+08:00",
        "  reopened: 1 time(s)",
    ):
        assert line in shown, line
    history = [line for line in shown.splitlines() if "│" in line]
    closure = next(line for line in history if "已销号 closed" in line and "整改报告已审核" in line)
    assert "2025-03-08 11:00+08:00" in closure and "徐明 Xu Ming" in closure
    reopening = next(line for line in history if "reopened" in line)
    assert "2025-03-10 09:00+08:00" in reopening and "胡军 Hu Jun" in reopening
    assert "已销号 closed → 已派发 assigned" in reopening
    assert any("系统 system" in line and "opened" in line for line in history)
    actors = {a for (a,) in rows(wh, "SELECT DISTINCT actor FROM case_events")}
    assert actors == {"system", "key_enterprises_leader", "key_enterprises_inspector"}  # ids, never free text

    # an event dated before the case's last one is refused
    refused("cases", "note", short, "--by", OFFICER, "--at", "2025-03-09 09:00", "--note", "x",
            says="is before case")

    # the list at 80 columns: the whole id on one line, the enterprise and the officer named
    monkeypatch.setattr(cases.console, "width", 80)
    listed = ok("cases", "list", "--officer", "key_enterprises_inspector")
    line = next(line for line in listed.splitlines() if case_id in line)
    assert "已派发" in line and "胡军" in line
    site = "".join(row.split("│")[3].strip() for row in listed.splitlines() if row.startswith("│"))
    assert site.replace(" ", "").startswith("华能北京热电厂燃煤机组烟囱1号")  # wrapped, whole
    assert all(len(line) <= 80 for line in listed.splitlines())
    assert rows(wh, "SELECT closed_at FROM cases") == [(None,)]
    assert rows(wh, "SELECT opened_at FROM cases") == [(local(2025, 3, 3, 10),)]
    assert local(2025, 3, 3, 10) - rows(wh, "SELECT min(event_at) FROM case_events")[0][0] == timedelta(0)
