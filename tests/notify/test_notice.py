"""notify.notice: one Notice makes one message per subscribed channel and recipient, with ids
that depend only on the notice (the same notice twice is the same messages)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from notify.config import NotificationConfig, load_notification_config
from notify.notice import (
    Notice,
    OutboxRow,
    emails_from,
    message_id,
    no_emails,
    pipeline_failure,
    plan,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
AT = datetime(2025, 3, 3, 2, tzinfo=UTC)
EMAILS = {"off": "officer@example.gov.cn", "lead": "leader@example.gov.cn"}


def emails_of(ids: list[str | None]) -> list[str]:
    return [EMAILS[i] for i in ids if i and i in EMAILS]


def alert_notice(event: str = "alert_firing", severity: str = "major", **extra: object) -> Notice:
    fields: dict = {
        "event": event,
        "severity": severity,
        "at": AT,
        "subject": "[envmon major] 告警 site so2 (A1)",
        "payload": {"event": event, "alert_id": "A1", "max_value": 75.0},
        "alert_id": "A1",
        "officer_id": "off",
        **extra,
    }
    return Notice(**fields)


def test_alert_notice_reaches_each_subscribed_channel() -> None:
    config = load_notification_config(REPO_CONFIG)
    rows = plan(alert_notice(), config, emails_of)
    assert [(r.channel_id, r.channel_kind, r.recipient) for r in rows] == [
        ("officer_email", "email", "officer@example.gov.cn"),
        ("duty_webhook", "webhook", "http://127.0.0.1:8089/envmon/alerts"),
        ("alert_log", "log", "alerts.log"),
    ]
    row = rows[0]
    assert (row.event, row.alert_id, row.case_id, row.queued_for, row.next_attempt_at) == (
        "alert_firing",
        "A1",
        None,
        AT,
        AT,
    )
    assert json.loads(row.payload) == {"event": "alert_firing", "alert_id": "A1", "max_value": 75.0}


def test_min_severity_on_both_sides_of_the_boundary() -> None:
    config = load_notification_config(REPO_CONFIG)  # duty_webhook: min_severity major
    channels = {r.channel_id for r in plan(alert_notice(severity="minor"), config, emails_of)}
    assert channels == {"officer_email", "alert_log"}
    channels = {r.channel_id for r in plan(alert_notice(severity="major"), config, emails_of)}
    assert "duty_webhook" in channels
    channels = {r.channel_id for r in plan(alert_notice(severity="info"), config, emails_of)}
    assert channels == {"alert_log"}  # officer_email: min_severity minor


def test_email_recipients_officer_leader_and_cc_sorted() -> None:
    config = NotificationConfig.model_validate(
        {
            "channels": [
                {
                    "channel_id": "mail",
                    "kind": "email",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": 25,
                    "sender": "envmon@example.gov.cn",
                    "to": ["officer", "leader"],
                    "cc": ["z-duty@example.gov.cn", "a-duty@example.gov.cn"],
                    "events": ["case_escalated"],
                }
            ]
        }
    )
    notice = alert_notice("case_escalated", "critical", case_id="C1", leader_id="lead")
    assert [r.recipient for r in plan(notice, config, emails_of)] == [
        "a-duty@example.gov.cn",
        "leader@example.gov.cn",
        "officer@example.gov.cn",
        "z-duty@example.gov.cn",
    ]
    unknown = alert_notice("case_escalated", "critical", officer_id="nobody", leader_id=None)
    assert [r.recipient for r in plan(unknown, config, emails_of)] == [
        "a-duty@example.gov.cn",
        "z-duty@example.gov.cn",
    ]


def test_alert_message_id_is_its_event_alert_case_channel_recipient_and_period() -> None:
    key = "alert_firing|A1||alert_log|alerts.log|2025-03-03T02:00:00+00:00"
    expected = "N" + hashlib.sha256(key.encode()).hexdigest()[:16]
    assert message_id(alert_notice(), "alert_log", "alerts.log") == expected
    # the same notice with another subject or payload is the same message; another period is not
    other_text = alert_notice(subject="x", payload={"y": 1})
    assert message_id(other_text, "alert_log", "alerts.log") == expected
    later = alert_notice(at=datetime(2025, 3, 3, 3, tzinfo=UTC))
    assert message_id(later, "alert_log", "alerts.log") != expected


def test_pipeline_failure_notice() -> None:
    failure = {
        "dag_id": "daily",
        "task_id": "aggregate_day",
        "run_id": "r1",
        "try_number": 4,
        "error": "disk full",
        "failed_at": "2026-03-10T01:00:00+00:00",
    }
    notice = pipeline_failure(failure, datetime(2026, 3, 10, 1, tzinfo=UTC))
    assert (notice.event, notice.severity, notice.subject) == (
        "pipeline_failed",
        "critical",
        "envmon pipeline: daily.aggregate_day failed",
    )
    rows = plan(notice, load_notification_config(REPO_CONFIG), no_emails)
    # every channel subscribed to pipeline_failed, the major-only webhook included; no e-mail
    # channel subscribes in the shipped file
    assert [(r.channel_id, r.recipient) for r in rows] == [
        ("duty_webhook", "http://127.0.0.1:8089/envmon/alerts"),
        ("alert_log", "alerts.log"),
    ]
    body = json.dumps(failure, ensure_ascii=False, sort_keys=True)
    assert rows[1].payload == body
    key = f"pipeline_failed|alert_log|alerts.log|{body}"  # identified by its content
    assert rows[1].notification_id == "N" + hashlib.sha256(key.encode()).hexdigest()[:16]


def test_an_alert_and_a_pipeline_failure_plan_the_same_row_type() -> None:
    config = load_notification_config(REPO_CONFIG)
    alert = plan(alert_notice(), config, emails_of)
    failure = plan(pipeline_failure({"dag_id": "d", "task_id": "t"}, AT), config, no_emails)
    assert {type(r) for r in alert + failure} == {OutboxRow}
    assert all(len(r) == len(OutboxRow._fields) for r in alert + failure)


def test_emails_from_addresses_read_beforehand() -> None:
    emails = emails_from({"off": "officer@example.gov.cn", "blank": None, "empty": ""})
    assert emails(["off", None, "blank", "empty", "nobody", "off"]) == [
        "officer@example.gov.cn",
        "officer@example.gov.cn",
    ]
    assert emails([]) == [] and no_emails(["off"]) == []
