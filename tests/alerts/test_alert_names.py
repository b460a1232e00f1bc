"""Cases, alert messages and notifications name the enterprise as people know it (issue 20):
"华能北京热电厂 燃煤机组烟囱1号", not "燃煤机组烟囱1号" (dozens of enterprises have one), with the
credit code, the registered address and the officers by name and phone; the times people read
are local with the offset, the machine's ISO UTC fields stay as they were."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _alerts_helpers import add_aggregates, hours, local, rows
from _so2_rule import OUTLET, RULE
from pydantic import TypeAdapter

from alerts.lifecycle import Evaluation, EvaluationReport
from alerts.rules import Rule, RuleSet, load_rules
from core.registry.config import load_registry
from notify.config import load_notification_config
from warehouse.db import connect

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
H = timedelta(hours=1)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(REPO_CONFIG, load_registry(REPO_CONFIG))


def evaluate(wh, ruleset: RuleSet, start: datetime, end: datetime) -> EvaluationReport:
    rule = TypeAdapter(Rule).validate_python(RULE)
    report = EvaluationReport(start, end, "test")
    with connect(wh) as con:
        Evaluation(con, ruleset, load_notification_config(REPO_CONFIG), report).run_rule(rule)
    return report


def registry_facts(wh) -> dict[str, Any]:
    """The enterprise and the key-enterprise grid's officers as the registry holds them."""
    ((name_zh, name_en, code, address),) = rows(
        wh, "SELECT name_zh, name_en, credit_code, address FROM enterprises WHERE enterprise_id = 'huaneng_gaobeidian'"
    )
    people = {
        role: (f"{zh} {en}", phone)
        for role, zh, en, phone in rows(
            wh, "SELECT role, name_zh, name_en, phone FROM officers WHERE grid_id = 'key_enterprises'"
        )
    }
    return {"name_zh": name_zh, "name_en": name_en, "code": code, "address": address, "people": people}


def episode(wh, ruleset) -> datetime:
    """SO2 over the limit at 10:00 and 11:00 local, normal from 12:00: opened at 12:00 (the end of
    the second hour), cleared at 14:00."""
    t0 = local(2025, 3, 3, 9)
    values = [40.0, 60.0, 75.0, 40.0, 40.0]
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(t0, 5), values, strict=True)))
    evaluate(wh, ruleset, t0, t0 + 5 * H)
    return t0


def test_case_title_and_alert_message_name_the_enterprise(wh, ruleset) -> None:
    episode(wh, ruleset)
    facts = registry_facts(wh)
    ((title,),) = rows(wh, "SELECT title FROM cases")
    assert title.startswith(f"{facts['name_zh']} 燃煤机组烟囱1号 二氧化硫超标 / {facts['name_en']}, ")
    ((message,),) = rows(wh, "SELECT message FROM alerts")
    assert f"{facts['name_zh']} 燃煤机组烟囱1号" in message and OUTLET in message
    # a station (no enterprise) keeps its own name: the label is the site's name
    ((station_label, station_name),) = rows(
        wh, "SELECT l.label_zh, s.name_zh FROM v_site_labels l JOIN sites s USING (site_id) WHERE s.kind = 'air' LIMIT 1"
    )
    assert station_label == station_name


def test_notifications_carry_the_enterprise_the_officers_and_local_times(wh, ruleset) -> None:
    t0 = episode(wh, ruleset)
    facts = registry_facts(wh)
    sent = {
        event: (subject, json.loads(payload))
        for event, subject, payload in rows(
            wh, "SELECT event, subject, payload FROM notifications WHERE channel_id = 'alert_log'"
        )
    }
    assert set(sent) == {"alert_firing", "case_opened", "alert_resolved"}
    for event, (subject, payload) in sent.items():
        assert f"{facts['name_zh']} 燃煤机组烟囱1号" in subject, event
        assert payload["enterprise_name_zh"] == facts["name_zh"]
        assert payload["enterprise_name_en"] == facts["name_en"]
        assert payload["credit_code"] == facts["code"]
        assert payload["enterprise_address"] == facts["address"]
        assert payload["site_label_zh"] == f"{facts['name_zh']} 燃煤机组烟囱1号"
        assert (payload["officer_name"], payload["officer_phone"]) == facts["people"]["responsible"]
        assert (payload["leader_name"], payload["leader_phone"]) == facts["people"]["leader"]
        assert payload["leader_id"] == "key_enterprises_leader"
        # the machine fields are as before (ISO UTC); the local text beside them
        assert payload["site_name_zh"] == "燃煤机组烟囱1号" and payload["officer_id"] == "key_enterprises_responsible"
        assert datetime.fromisoformat(payload["first_period"]) == t0 + H
        assert payload["first_period_local"] == "2025-03-03 10:00+08:00"
        assert payload["last_period_local"] == "2025-03-03 11:00+08:00"
    assert sent["alert_firing"][1]["at_local"] == "2025-03-03 12:00+08:00"
    assert sent["alert_firing"][1]["resolved_period_local"] is None
    assert sent["alert_resolved"][1]["resolved_period_local"] == "2025-03-03 14:00+08:00"


def test_the_case_note_of_a_cleared_alert_is_in_local_time(wh, ruleset) -> None:
    episode(wh, ruleset)
    ((alert_id,),) = rows(wh, "SELECT alert_id FROM alerts")
    ((note,),) = rows(wh, "SELECT note FROM case_events WHERE action = 'alert_resolved'")
    assert note == f"alert {alert_id} cleared at 2025-03-03 14:00+08:00 after 2 normal period(s)"
