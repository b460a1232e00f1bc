"""notify.outbox on a real warehouse: what enqueue writes, claiming due messages, recording a
delivery's outcome, listing, and queueing failed messages again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from _alerts_helpers import rows

from notify.config import load_notification_config
from notify.delivery import Settled
from notify.notice import Notice, pipeline_failure
from notify.outbox import (
    claim_due,
    enqueue,
    list_messages,
    officer_addresses,
    officer_emails,
    record,
    requeue_failed,
)
from warehouse.db import connect, transaction

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
AT = datetime(2025, 3, 3, 1, tzinfo=UTC)
OFFICER = "key_enterprises_responsible"  # registry: grids.yaml
OFFICER_EMAIL = "key.enterprises.responsible@eeb.example.gov.cn"
COLUMNS = (
    "notification_id, event, alert_id, case_id, channel_id, channel_kind, recipient, subject, "
    "payload, queued_for, status, attempts, next_attempt_at, last_error, sent_at"
)


def alert_notice(at: datetime = AT) -> Notice:
    return Notice(
        event="alert_firing",
        severity="major",
        at=at,
        subject="[envmon major] 告警 燃煤机组烟囱1号 (A1)",
        payload={"event": "alert_firing", "alert_id": "A1"},
        alert_id="A1",
        officer_id=OFFICER,
    )


def failure_notice() -> Notice:
    return pipeline_failure({"dag_id": "daily", "task_id": "aggregate_day", "error": "x"}, AT)


def _log_row(wh, event: str) -> dict:
    (row,) = rows(
        wh,
        f"SELECT {COLUMNS} FROM notifications WHERE event = ? AND channel_id = 'alert_log'",
        [event],
    )
    return dict(zip([c.strip() for c in COLUMNS.split(",")], row, strict=True))


def test_an_alert_and_a_pipeline_failure_write_the_same_columns(wh) -> None:
    config = load_notification_config(REPO_CONFIG)
    with connect(wh) as con, transaction(con):
        assert enqueue(con, config, alert_notice()) == 3  # officer e-mail, webhook, log
        assert enqueue(con, config, failure_notice()) == 2  # webhook, log
    alert, failure = _log_row(wh, "alert_firing"), _log_row(wh, "pipeline_failed")
    assert alert.keys() == failure.keys()
    for row in (alert, failure):  # a fresh message: pending, never tried, due at its instant
        assert (row["status"], row["attempts"], row["last_error"], row["sent_at"]) == (
            "pending",
            0,
            None,
            None,
        )
        assert row["queued_for"] == row["next_attempt_at"] == AT
        assert (row["channel_kind"], row["recipient"]) == ("log", "alerts.log")
    assert (alert["alert_id"], alert["case_id"]) == ("A1", None)
    assert (failure["alert_id"], failure["case_id"]) == (None, None)
    assert failure["subject"] == "envmon pipeline: daily.aggregate_day failed"
    assert rows(wh, "SELECT recipient FROM notifications WHERE channel_kind = 'email'") == [
        (OFFICER_EMAIL,)
    ]


def test_enqueue_the_same_notice_twice_adds_nothing(wh) -> None:
    config = load_notification_config(REPO_CONFIG)
    with connect(wh) as con, transaction(con):
        assert enqueue(con, config, alert_notice()) == 3
        assert enqueue(con, config, alert_notice()) == 0
        assert enqueue(con, config, alert_notice(AT + timedelta(hours=1))) == 3
    assert rows(wh, "SELECT count(*) FROM notifications") == [(6,)]


def test_officer_emails_skip_none_and_unknown_officers(wh) -> None:
    with connect(wh, write=False) as con:
        assert officer_emails(con, [None, "nobody", OFFICER]) == [OFFICER_EMAIL]


def test_officers_without_an_address_get_no_email(wh) -> None:
    with connect(wh) as con:
        assert officer_addresses(con)[OFFICER] == OFFICER_EMAIL
        con.execute("UPDATE officers SET email = NULL WHERE officer_id = ?", [OFFICER])
        assert OFFICER not in officer_addresses(con)
        assert officer_emails(con, [OFFICER]) == []


def test_claim_due_on_both_sides_of_next_attempt(wh) -> None:
    config = load_notification_config(REPO_CONFIG)
    with connect(wh) as con, transaction(con):
        enqueue(con, config, alert_notice())
        assert claim_due(con, config, AT - timedelta(seconds=1)) == []
        claimed = claim_due(con, config, AT)
        assert len(claimed) == 3 and {m.attempts for m in claimed} == {0}
        assert claim_due(con, config, AT) == []  # claimed: not due again until the claim expires
    claim_until = AT + timedelta(seconds=config.retry.claim_timeout_s)
    assert rows(wh, "SELECT DISTINCT status, next_attempt_at FROM notifications") == [
        ("sending", claim_until)
    ]
    with connect(wh) as con, transaction(con):  # a claim that expired is claimed again
        assert len(claim_due(con, config, claim_until)) == 3


def test_record_writes_the_outcome_and_requeue_failed(wh) -> None:
    config = load_notification_config(REPO_CONFIG)
    with connect(wh) as con, transaction(con):
        enqueue(con, config, alert_notice())
        sent, retry, gave_up = sorted(m.notification_id for m in claim_due(con, config, AT))
        later = AT + timedelta(minutes=1)
        record(
            con,
            [
                Settled(sent, "sent", 1, AT, None, None),
                Settled(retry, "pending", 1, None, later, "OSError: refused"),
                Settled(gave_up, "failed", 8, None, None, "OSError: refused"),
            ],
        )
    assert rows(
        wh,
        "SELECT notification_id, status, attempts, sent_at, next_attempt_at, last_error "
        "FROM notifications ORDER BY notification_id",
    ) == [
        (sent, "sent", 1, AT, None, None),
        (retry, "pending", 1, None, later, "OSError: refused"),
        (gave_up, "failed", 8, None, None, "OSError: refused"),
    ]
    with connect(wh, write=False) as con:
        assert [r[0] for r in list_messages(con, "failed")] == [gave_up]
        assert len(list_messages(con)) == 3 and len(list_messages(con, limit=2)) == 2
    with connect(wh) as con, transaction(con):
        assert requeue_failed(con, later) == 1
        assert requeue_failed(con, later) == 0
    assert rows(
        wh,
        "SELECT status, attempts, next_attempt_at FROM notifications WHERE notification_id = ?",
        [gave_up],
    ) == [("pending", 0, later)]
