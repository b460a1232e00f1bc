"""The evaluator (alerts.lifecycle.Evaluation) on a small warehouse: the rows one episode
writes — the alert opened at its duration, its evidence, the case, the notifications as it
fires, repeats and clears — the cursor that makes a re-run change nothing, and a silence."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _alerts_helpers import add_aggregates, hours, local, rows
from _so2_rule import OUTLET, RULE
from pydantic import TypeAdapter

from alerts.hysteresis import alert_id
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


def evaluate(wh, ruleset: RuleSet, start: datetime, end: datetime, **changes: Any):
    rule = TypeAdapter(Rule).validate_python({**RULE, **changes})
    report = EvaluationReport(start, end, "test")
    with connect(wh) as con:
        Evaluation(con, ruleset, load_notification_config(REPO_CONFIG), report).run_rule(rule)
    return report


def test_one_episode_opens_repeats_and_clears(wh, ruleset):
    t0 = local(2025, 3, 3, 9)
    values = [40.0, 60.0, 75.0, 40.0, 55.0, 40.0, 50.0]  # 50.0: at the limit, normal
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(t0, 7), values, strict=True)))
    report = evaluate(wh, ruleset, t0, t0 + 7 * H)

    aid = alert_id(RULE["rule_id"], OUTLET, "so2", t0 + H)  # first exceeded hour: 10:00
    assert (report.alerts_opened, report.alerts_resolved) == ([aid], [aid])
    assert (report.rules_evaluated, report.periods_evaluated) == (1, 7)
    (alert,) = rows(
        wh,
        "SELECT state, first_period, last_period, resolved_period, created_at, max_value, limit_value, "
        "max_multiple, periods_exceeded, hours_exceeded, normal_streak, last_notified_period, case_id "
        "FROM alerts",
    )
    assert alert[:5] == (
        "resolved",
        t0 + H,
        t0 + 4 * H,  # the exceedance after one normal hour continues the same alert
        t0 + 7 * H,  # cleared by the second normal hour in a row (clear_after 2)
        t0 + 3 * H,  # opened at the end of the second exceeded hour (consecutive 2)
    )
    assert alert[5:10] == (75.0, 50.0, 1.5, 3, 3.0)
    assert (alert[10], alert[11]) == (2, t0 + 5 * H)  # the repeat at 14:00, 2 h after 12:00
    # evidence: one hour of context, the two that opened it, then every later hour
    assert rows(
        wh, "SELECT period_start, value, exceeded FROM alert_periods ORDER BY period_start"
    ) == [(t0 + k * H, v, v > 50.0) for k, v in enumerate(values)]
    assert rows(
        wh,
        "SELECT event, queued_for FROM notifications WHERE channel_id = 'alert_log' "
        "ORDER BY queued_for, event",
    ) == [
        ("alert_firing", t0 + 3 * H),
        ("case_opened", t0 + 3 * H),
        ("alert_repeat", t0 + 5 * H),
        ("alert_resolved", t0 + 7 * H),
    ]
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    assert alert[12] == case_id
    assert rows(wh, "SELECT action FROM case_events ORDER BY seq") == [
        ("opened",),
        ("alert_resolved",),
    ]
    assert rows(wh, "SELECT rule_id, site_id, parameter, evaluated_through FROM alert_cursors") == [
        (RULE["rule_id"], OUTLET, "so2", t0 + 7 * H)
    ]
    # the same hours again: the cursor says they were evaluated, nothing changes
    again = evaluate(wh, ruleset, t0, t0 + 7 * H)
    assert (again.periods_evaluated, again.alerts_opened, again.notifications_queued) == (0, [], 0)


def test_duration_one_short_opens_nothing(wh, ruleset):
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(t0, 3), [60.0, 40.0, 60.0], strict=True))
    )
    report = evaluate(wh, ruleset, t0, t0 + 3 * H)
    assert (report.alerts_opened, report.periods_evaluated) == ([], 3)
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]
    assert rows(wh, "SELECT evaluated_through FROM alert_cursors") == [(t0 + 3 * H,)]


def test_a_silenced_alert_is_recorded_but_neither_notified_nor_cased(wh, ruleset):
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", list(zip(hours(t0, 2), [60.0, 60.0], strict=True))
    )
    with connect(wh) as con:
        con.execute(
            "INSERT INTO silences VALUES ('S1', 'silence', ?, NULL, NULL, ?, ?, 'known', 'li', ?, NULL, NULL)",
            [OUTLET, t0, t0 + 24 * H, t0],
        )
    report = evaluate(wh, ruleset, t0, t0 + 2 * H)
    assert len(report.alerts_opened) == 1 and report.cases_opened == []
    assert rows(wh, "SELECT state, silenced_by, case_id, last_notified_period FROM alerts") == [
        ("firing", "S1", None, None)
    ]
    assert rows(wh, "SELECT count(*) FROM notifications") == [(0,)]
