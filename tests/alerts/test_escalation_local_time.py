"""Escalation (alerts.jobs.escalate_overdue) speaks local time (issue 20): the reason recorded and
sent reads "rectification deadline 2025-03-05 00:00+08:00 passed", not "... 16:00 UTC"; the
message names the enterprise, the officer and the leader by name and phone."""

from __future__ import annotations

import json
from datetime import timedelta

from _alerts_helpers import add_aggregates, local, rows

from alerts.jobs import escalate_overdue, evaluate_rules
from warehouse.db import connect

OUTLET = "huaneng_gaobeidian_da001"  # 华能北京热电厂 燃煤机组烟囱1号; grid key_enterprises
H = timedelta(hours=1)


def open_case(wh) -> str:
    """An SO2 exceedance at 09:00 local on 3 March 2025: a case opened at 10:00 local."""
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(local(2025, 3, 3, 9), 75.0)])
    report = evaluate_rules(wh, local(2025, 3, 3, 9), local(2025, 3, 3, 10))
    (case_id,) = report.cases_opened
    return case_id


def escalation(wh, case_id: str) -> tuple[str, str, dict]:
    ((reason,),) = rows(wh, "SELECT reason FROM case_escalations WHERE case_id = ?", [case_id])
    ((subject, payload),) = rows(
        wh, "SELECT subject, payload FROM notifications WHERE event = 'case_escalated' AND channel_id = 'alert_log'"
    )
    return reason, subject, json.loads(payload)


def test_an_unanswered_case_is_escalated_in_local_time(wh) -> None:
    case_id = open_case(wh)  # response_hours 24: overdue from 4 March 10:00 local
    assert escalate_overdue(wh, local(2025, 3, 4, 9) + 59 * timedelta(minutes=1)).escalated == []
    report = escalate_overdue(wh, local(2025, 3, 4, 10))
    assert report.escalated == [(case_id, "key_enterprises_leader")]
    ((leader, leader_phone),) = rows(
        wh, "SELECT name_zh || ' ' || name_en, phone FROM officers WHERE officer_id = 'key_enterprises_leader'"
    )
    assert report.leader_names == {"key_enterprises_leader": leader}
    assert report.site_labels == {case_id: "华能北京热电厂 燃煤机组烟囱1号"}
    reason, subject, payload = escalation(wh, case_id)
    assert reason.startswith("open since 2025-03-03 10:00+08:00, overdue from 2025-03-04 10:00+08:00 (")
    assert "UTC" not in reason
    ((note,),) = rows(wh, "SELECT note FROM case_events WHERE action = 'escalated'")
    assert note.startswith(reason)
    assert "华能北京热电厂" in subject and case_id in subject
    assert payload["reason"] == reason
    assert (payload["leader_name"], payload["leader_phone"]) == (leader, leader_phone)
    assert payload["escalated_to"] == payload["leader_id"] == "key_enterprises_leader"
    assert payload["officer_name"] is not None and payload["officer_phone"] is not None
    assert payload["enterprise_name_zh"] == "华能北京热电厂" and payload["credit_code"]
    assert payload["enterprise_address"]
    assert payload["overdue_since_local"] == "2025-03-04 10:00+08:00"
    assert payload["escalated_at_local"] == "2025-03-04 10:00+08:00"


def test_a_missed_rectification_deadline_is_written_in_local_time(wh) -> None:
    case_id = open_case(wh)
    deadline = local(2025, 3, 5, 0)  # midnight local: 16:00 UTC the day before
    with connect(wh) as con:
        con.execute(
            "UPDATE cases SET state = 'rectification_ordered', deadline = ?, rectification_ordered_at = ? "
            "WHERE case_id = ?",
            [deadline, local(2025, 3, 3, 12), case_id],
        )
    assert escalate_overdue(wh, deadline - timedelta(minutes=1)).escalated == []
    assert escalate_overdue(wh, deadline).escalated == [(case_id, "key_enterprises_leader")]
    reason, _, payload = escalation(wh, case_id)
    assert reason == "rectification deadline 2025-03-05 00:00+08:00 passed"
    assert payload["overdue_since_local"] == "2025-03-05 00:00+08:00"
