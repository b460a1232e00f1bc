"""Cases: one per site and family, the workflow, escalation, continuing days, silences, the CLI."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import openpyxl
import pytest
from _alerts_helpers import add_aggregates, hours, local, rows

from alerts import cases as case_flow
from alerts.jobs import escalate_overdue, evaluate_rules
from alerts.staff import acknowledge, add_silence, export_cases
from warehouse.db import connect, transaction

OUTLET = (
    "huaneng_gaobeidian_da001"  # so2 limit 50, nox limit 100 (hour_avg_o2); grid key_enterprises
)
RULE = ["flue_gas_hour_over_permit"]
LEADER, INSPECTOR = "key_enterprises_leader", "key_enterprises_inspector"  # 徐明, 胡军
ENVMON = str(Path(sys.executable).with_name("envmon"))


def _exceed(wh, t0: datetime, values: list[float], parameter: str = "so2") -> None:
    add_aggregates(
        wh, OUTLET, parameter, "hour_avg_o2", list(zip(hours(t0, len(values)), values, strict=True))
    )


def test_later_alerts_attach_to_the_open_case(wh):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0, 40.0, 40.0])
    _exceed(wh, t0 + timedelta(hours=1), [150.0], parameter="nox")
    evaluate_rules(wh, t0, t0 + timedelta(hours=3), rule_ids=RULE)
    assert rows(wh, "SELECT count(*), count(DISTINCT case_id) FROM alerts") == [(2, 1)]
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    assert [r[0] for r in rows(wh, "SELECT action FROM case_events ORDER BY seq")] == [
        "opened",
        "evidence_attached",
        "alert_resolved",
    ]
    assert rows(
        wh,
        "SELECT count(*) FROM alert_periods ap JOIN alerts a USING (alert_id) WHERE a.case_id = ? "
        "AND ap.exceeded",
        [case_id],
    ) == [(2,)]


def test_workflow_transitions_and_refusals(wh):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    now = t0 + timedelta(hours=2)
    with connect(wh) as con, transaction(con):
        with pytest.raises(
            case_flow.CaseError,
            match=r"case \S+ is 待派发 open: cannot move to closed; allowed: assigned, dismissed",
        ):
            case_flow.move(con, case_id, "closed", by=LEADER, at=now)
        case_flow.assign(con, case_id, "key_enterprises_inspector", by=LEADER, at=now)
        case_flow.move(con, case_id, "under_inspection", by=INSPECTOR, at=now)
        with pytest.raises(case_flow.CaseError, match="needs a deadline"):
            case_flow.move(con, case_id, "rectification_ordered", by=INSPECTOR, at=now)
        case_flow.move(
            con, case_id, "rectification_ordered", by=INSPECTOR, at=now, deadline=now + timedelta(days=3)
        )
        case_flow.move(con, case_id, "verified", by=INSPECTOR, at=now + timedelta(days=2))
        case_flow.move(
            con, case_id, "closed", by=LEADER, at=now + timedelta(days=2), note="rectified"
        )
        with pytest.raises(case_flow.CaseError, match="allowed: none"):
            case_flow.move(con, case_id, "dismissed", by=LEADER, at=now, note="x")
    events = rows(
        wh,
        "SELECT seq, actor, action, from_state, to_state FROM case_events WHERE case_id = ? ORDER BY seq",
        [case_id],
    )
    assert [e[0] for e in events] == list(range(1, 7))
    assert [(e[3], e[4]) for e in events[1:]] == [
        ("open", "assigned"),
        ("assigned", "under_inspection"),
        ("under_inspection", "rectification_ordered"),
        ("rectification_ordered", "verified"),
        ("verified", "closed"),
    ]
    assert rows(wh, "SELECT state, officer_id, closed_at FROM cases") == [
        ("closed", "key_enterprises_inspector", now + timedelta(days=2))
    ]


def test_dismissal_needs_a_reason(wh):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    with connect(wh) as con, transaction(con):
        with pytest.raises(case_flow.CaseError, match="needs the reason"):
            case_flow.move(con, case_id, "dismissed", by=LEADER, at=t0)
        case_flow.move(
            con,
            case_id,
            "dismissed",
            by=LEADER,
            at=t0 + timedelta(hours=3),
            note="analyser fault confirmed on site",
        )
    assert rows(wh, "SELECT state, dismissed_reason FROM cases") == [
        ("dismissed", "analyser fault confirmed on site")
    ]


def test_overdue_escalates_once_to_the_grid_leader(wh):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    opened = t0 + timedelta(hours=1)  # response_hours: 24 (config/rules/calendar.yaml)
    assert escalate_overdue(wh, opened + timedelta(hours=23, minutes=59)).escalated == []
    report = escalate_overdue(wh, opened + timedelta(hours=24))
    assert report.escalated == [
        (rows(wh, "SELECT case_id FROM cases")[0][0], "key_enterprises_leader")
    ]
    assert (
        escalate_overdue(wh, opened + timedelta(hours=30)).escalated == []
    )  # once per missed deadline
    assert rows(wh, "SELECT escalated_to FROM cases") == [("key_enterprises_leader",)]
    assert rows(
        wh,
        "SELECT count(*) FROM notifications WHERE event = 'case_escalated' AND recipient = "
        "'key.enterprises.leader@eeb.example.gov.cn'",
    ) == [(1,)]


def test_escalation_climbs_to_the_parent_grid_leader(wh):
    with connect(wh) as con:  # a street grid has no leader: its district's leader takes it
        assert case_flow.leader_of(con, "dongsi_st") == "dongcheng_leader"


def test_continuing_exceedance_days_after_rectification_order(wh):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    ordered = local(2025, 3, 3, 12)
    with connect(wh) as con, transaction(con):
        case_flow.assign(con, case_id, "key_enterprises_inspector", by=LEADER, at=ordered)
        case_flow.move(con, case_id, "under_inspection", by=INSPECTOR, at=ordered)
        case_flow.move(
            con,
            case_id,
            "rectification_ordered",
            by=INSPECTOR,
            at=ordered,
            deadline=local(2025, 3, 10, 0),
        )
    # still above the limit: 03-03 afternoon, 03-04 (two hours), none on 03-05, 03-06 once
    series = [(local(2025, 3, 3, 10) + timedelta(hours=k), 40.0) for k in range(84)]
    bad = {local(2025, 3, 3, 15), local(2025, 3, 4, 1), local(2025, 3, 4, 2), local(2025, 3, 6, 8)}
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", [(t, 75.0 if t in bad else v) for t, v in series]
    )
    evaluate_rules(wh, local(2025, 3, 3, 10), local(2025, 3, 6, 22), rule_ids=RULE)
    report = escalate_overdue(wh, local(2025, 3, 7, 0))
    assert report.continuing_days == {case_id: 3}
    assert rows(
        wh,
        "SELECT local_date::VARCHAR, periods_exceeded, max_multiple FROM case_exceedance_days ORDER BY 1",
    ) == [("2025-03-03", 1, 1.5), ("2025-03-04", 2, 1.5), ("2025-03-06", 1, 1.5)]
    # the hour before the order does not count
    assert (
        rows(wh, "SELECT min(ap.period_start) FROM alert_periods ap WHERE ap.exceeded")[0][0]
        < ordered
    )


def test_silence_suppresses_case_and_notification_until_expiry(wh):
    t0 = local(2025, 3, 3, 9)
    with connect(wh) as con, transaction(con):
        add_silence(
            con,
            kind="silence",
            site_id=OUTLET,
            rule_id=None,
            parameter=None,
            starts_at=t0,
            ends_at=t0 + timedelta(hours=2),
            reason="stack test by the operator",
            by="li",
            at=t0,
        )
    _exceed(wh, t0, [60.0, 61.0, 62.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    assert rows(wh, "SELECT state, case_id, silenced_by IS NOT NULL FROM alerts") == [
        ("firing", None, True)
    ]
    assert rows(wh, "SELECT count(*) FROM notifications") == [(0,)]
    evaluate_rules(
        wh, t0 + timedelta(hours=1), t0 + timedelta(hours=3), rule_ids=RULE
    )  # expiry at +2 h
    assert rows(wh, "SELECT case_id IS NOT NULL, silenced_by FROM alerts") == [(True, None)]
    assert rows(wh, "SELECT min(queued_for) FROM notifications") == [(t0 + timedelta(hours=2),)]


def test_maintenance_window_is_not_evaluated(wh):
    t0 = local(2025, 3, 3, 9)
    with connect(wh) as con, transaction(con):
        add_silence(
            con,
            kind="maintenance",
            site_id=OUTLET,
            rule_id=None,
            parameter=None,
            starts_at=t0,
            ends_at=t0 + timedelta(hours=2),
            reason="analyser calibration",
            by="li",
            at=t0,
        )
    _exceed(wh, t0, [60.0, 61.0, 40.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=3), rule_ids=RULE)
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]
    _exceed(wh, t0 + timedelta(hours=3), [60.0])
    evaluate_rules(wh, t0 + timedelta(hours=3), t0 + timedelta(hours=4), rule_ids=RULE)
    assert rows(wh, "SELECT first_period FROM alerts") == [(t0 + timedelta(hours=3),)]


def test_acknowledged_alerts_stop_repeating(wh):
    t0 = local(2025, 3, 3, 9)  # repeat_every_h: 6
    _exceed(wh, t0, [60.0] * 14)
    evaluate_rules(wh, t0, t0 + timedelta(hours=7), rule_ids=RULE)
    assert rows(
        wh,
        "SELECT count(*) FROM notifications WHERE event = 'alert_repeat' AND channel_id = 'alert_log'",
    ) == [(1,)]
    (alert_id,) = rows(wh, "SELECT alert_id FROM alerts")[0]
    with connect(wh) as con, transaction(con):
        acknowledge(con, alert_id, by="li", at=t0 + timedelta(hours=7))
    evaluate_rules(wh, t0 + timedelta(hours=7), t0 + timedelta(hours=14), rule_ids=RULE)
    assert rows(
        wh,
        "SELECT count(*) FROM notifications WHERE event = 'alert_repeat' AND channel_id = 'alert_log'",
    ) == [(1,)]


def test_export_names_the_enterprise_and_officer_in_local_time(wh, tmp_path):
    t0 = local(2025, 3, 4, 1)  # the hour ends 02:00 local on 03-04, 18:00 UTC on 03-03
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    with connect(wh, write=False) as con:
        assert export_cases(con, tmp_path / "cases.xlsx") == 1
        assert export_cases(con, tmp_path / "cases.csv") == 1
    wb = openpyxl.load_workbook(tmp_path / "cases.xlsx")
    header, row = list(wb["cases"].iter_rows(values_only=True))
    record = dict(zip(header, row, strict=True))
    assert record["案件编号 case_id"].startswith("C20250304-")  # the local date of opening
    assert (record["网格编号 grid_id"], record["网格员编号 officer_id"], record["最大倍数 max_multiple"]) == (
        "key_enterprises",
        "key_enterprises_responsible",
        1.2,
    )
    assert (record["企业名称 enterprise_name_zh"], record["统一社会信用代码 credit_code"]) == (
        "华能北京热电厂", "91110105950647043T")
    assert record["注册地址 enterprise_address"] == "北京市朝阳区高碑店乡西店村甲1号"
    assert (record["网格员 officer_name_zh"], record["网格员电话 officer_phone"]) == ("孙伟", "010-69760210")
    assert record["排放口/点位 site_name_zh"] == "燃煤机组烟囱1号"
    assert record["状态 state_label"] == "待派发 open"
    # local wall time, the zone in the header (not naive UTC: 2025-03-03 18:00)
    assert record["立案时间 opened_at (Asia/Shanghai, UTC+08:00)"] == datetime(2025, 3, 4, 2, 0)
    events = list(wb["events"].iter_rows(values_only=True))
    ev = dict(zip(events[0], events[1], strict=True))
    assert (ev["动作 action"], ev["经办人 actor_label"]) == ("opened", "系统 system")
    assert "孙伟 Sun Wei (key_enterprises_responsible)" in ev["说明 note"]
    assert "重点排污单位专项网格" in ev["说明 note"]
    with (tmp_path / "cases.csv").open(encoding="utf-8-sig", newline="") as fh:
        (row_csv,) = list(csv.DictReader(fh))
    assert row_csv["立案时间 opened_at (Asia/Shanghai, UTC+08:00)"] == "2025-03-04 02:00+08:00"
    assert row_csv["企业名称 enterprise_name_zh"] == "华能北京热电厂"
    assert row_csv["网格员 officer_name_zh"] == "孙伟"


def test_cli_move_and_rule_evaluation_at_the_same_time(wh):
    t0 = local(2025, 3, 3, 9)
    _exceed(wh, t0, [60.0])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    _exceed(wh, t0 + timedelta(hours=1), [150.0], parameter="nox")
    env = {**os.environ, "ENVMON_HOME": str(wh.home)}
    evaluate = (
        "from datetime import datetime, timedelta, timezone; from alerts.jobs import evaluate_rules; "
        f"s = datetime.fromisoformat('{(t0 + timedelta(hours=1)).isoformat()}'); "
        "evaluate_rules(None, s, s + timedelta(hours=1), rule_ids=['flue_gas_hour_over_permit'])"
    )
    with connect(wh, purpose="test holds the lock"):  # both writers must wait for this one
        staff = subprocess.Popen(
            [ENVMON, "cases", "assign", case_id, "--to", "key_enterprises_inspector", "--by", LEADER],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        dag = subprocess.Popen(
            [sys.executable, "-c", evaluate],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert staff.poll() is None and dag.poll() is None  # both are waiting for the writer lock
    _, err_staff = staff.communicate(timeout=120)
    _, err_dag = dag.communicate(timeout=120)
    assert staff.returncode == 0, err_staff
    assert dag.returncode == 0, err_dag
    assert rows(wh, "SELECT state, officer_id FROM cases") == [
        ("assigned", "key_enterprises_inspector")
    ]
    actions = [r[0] for r in rows(wh, "SELECT action FROM case_events ORDER BY seq")]
    assert sorted(actions) == ["assigned", "evidence_attached", "opened"]
    assert rows(wh, "SELECT count(*) FROM alerts WHERE case_id = ?", [case_id]) == [(2,)]


def test_open_and_overdue_at_an_instant_on_both_sides():
    end = local(2025, 4, 1, 0)
    tiny = timedelta(microseconds=1)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE cases (case_id VARCHAR, opened_at TIMESTAMPTZ, closed_at TIMESTAMPTZ, "
        "deadline TIMESTAMPTZ)"
    )
    opened = end - timedelta(days=10)
    con.executemany(
        "INSERT INTO cases VALUES (?, ?, ?, ?)",
        [
            ("deadline_just_before", opened, None, end - tiny),
            ("deadline_at_end", opened, None, end),  # not before the end: not yet overdue
            ("no_deadline", opened, None, None),  # no rectification ordered: never overdue
            ("closed_just_before", opened, end - tiny, end - timedelta(days=5)),
            ("closed_at_end", opened, end, end - timedelta(days=5)),  # still open at the end
            ("opened_at_end", end, None, end - tiny),  # not yet opened
        ],
    )
    got = con.execute(
        f"SELECT case_id, {case_flow.open_at_sql('$end')} IS TRUE, "
        f"{case_flow.overdue_at_sql('$end')} IS TRUE FROM cases c ORDER BY case_id",
        {"end": end},
    ).fetchall()
    assert got == [
        ("closed_at_end", True, True),
        ("closed_just_before", False, False),
        ("deadline_at_end", True, False),
        ("deadline_just_before", True, True),
        ("no_deadline", True, False),
        ("opened_at_end", False, False),
    ]
