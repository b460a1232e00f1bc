"""The outbox (table `notifications`): every SQL statement on it — queue, claim, record the
outcome of a delivery, list, queue failed messages again.

Evaluation only queues messages, inside its own transaction; delivery claims due messages under
the writer lock, sends them with no lock held (notify.delivery), and records the outcome here.
A message is never deleted: after its last attempt it stays as `failed` (shown by
`envmon alerts outbox`, queued again by `--retry-failed`), so no alert is lost to an outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import duckdb

from notify.config import NotificationConfig
from notify.delivery import Settled
from notify.notice import Contact, Message, Notice, OutboxRow, SiteLabel, emails_from, plan

__all__ = [
    "claim_due",
    "contacts",
    "enqueue",
    "insert_messages",
    "list_messages",
    "officer_addresses",
    "officer_emails",
    "record",
    "requeue_failed",
    "site_labels",
]

LIST_LIMIT = 500


def officer_addresses(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Officer id -> e-mail address, for the officers that have one (registry: grids.yaml)."""
    return dict(
        con.execute(
            "SELECT officer_id, email FROM officers WHERE email IS NOT NULL AND email <> ''"
        ).fetchall()
    )


def site_labels(con: duckdb.DuckDBPyConnection) -> dict[str, SiteLabel]:
    """Site id -> how people name it (view v_site_labels), for every site: read once by a job."""
    return {
        r[0]: SiteLabel(*r)
        for r in con.execute(
            "SELECT site_id, kind, site_name_zh, site_name_en, timezone, enterprise_id, enterprise_name_zh, "
            "enterprise_name_en, credit_code, enterprise_address, label_zh, label_en FROM v_site_labels"
        ).fetchall()
    }


def contacts(con: duckdb.DuckDBPyConnection) -> dict[str, Contact]:
    """Person id -> name and phone (view v_people: officers and staff), read once by a job."""
    return {
        r[0]: Contact(*r)
        for r in con.execute("SELECT person_id, name_zh, name_en, phone FROM v_people").fetchall()
    }


def officer_emails(con: duckdb.DuckDBPyConnection, officer_ids: list[str | None]) -> list[str]:
    """The e-mail addresses of these officers, skipping None and the officers without one."""
    return emails_from(officer_addresses(con))(officer_ids)


def insert_messages(con: duckdb.DuckDBPyConnection, rows: Sequence[OutboxRow]) -> int:
    """Add the planned rows the outbox does not hold yet (the first of equal ids wins), in
    bulk; returns how many were added."""
    fresh: dict[str, OutboxRow] = {}
    for row in rows:
        fresh.setdefault(row[0], row)
    if not fresh:
        return 0
    known = {
        nid
        for (nid,) in con.execute(
            "SELECT notification_id FROM notifications WHERE notification_id IN (SELECT unnest(?))",
            [list(fresh)],
        ).fetchall()
    }
    todo = [row for nid, row in fresh.items() if nid not in known]
    if todo:  # one statement: each column a list, unnested side by side
        columns = [list(c) for c in zip(*todo, strict=True)]
        unnest = [f"unnest(${i + 1})" for i in range(len(columns))]
        con.execute(
            f"INSERT INTO notifications SELECT {', '.join(unnest[:10])}, 'pending', 0, {unnest[10]}, "
            "NULL, NULL",
            columns,
        )
    return len(todo)


def enqueue(con: duckdb.DuckDBPyConnection, config: NotificationConfig, notice: Notice) -> int:
    """Put the notice's messages in the outbox (e-mail to the officers' addresses in the
    warehouse); queueing the same notice twice adds nothing. Returns how many were added."""
    return insert_messages(con, plan(notice, config, lambda ids: officer_emails(con, ids)))


def claim_due(
    con: duckdb.DuckDBPyConnection, config: NotificationConfig, now: datetime
) -> list[Message]:
    """Mark due messages 'sending' (a claim that expires) and return them."""
    rows = con.execute(
        "SELECT notification_id, channel_id, recipient, subject, payload, attempts FROM notifications "
        "WHERE (status = 'pending' AND next_attempt_at <= $now) OR (status = 'sending' AND next_attempt_at <= $now) "
        "ORDER BY queued_for, notification_id",
        {"now": now},
    ).fetchall()
    claim_until = now + timedelta(seconds=config.retry.claim_timeout_s)
    if rows:  # one statement for the whole claim
        con.execute(
            "UPDATE notifications SET status = 'sending', next_attempt_at = ? "
            "WHERE notification_id IN (SELECT unnest(?))",
            [claim_until, [r[0] for r in rows]],
        )
    return [Message(*r) for r in rows]


def record(con: duckdb.DuckDBPyConnection, settled: Sequence[Settled]) -> None:
    """Write the outcome of a delivery run (notify.delivery.settle) in one statement; sent_at
    stays as it was unless the message was sent now."""
    if not settled:
        return
    columns = [list(c) for c in zip(*settled, strict=True)]
    con.execute(
        """
        UPDATE notifications SET status = v.status, attempts = v.attempts,
               sent_at = CASE WHEN v.status = 'sent' THEN v.sent_at ELSE notifications.sent_at END,
               next_attempt_at = v.next_attempt_at, last_error = v.last_error
        FROM (SELECT unnest($1) AS notification_id, unnest($2) AS status, unnest($3) AS attempts,
                     CAST(unnest($4) AS TIMESTAMPTZ) AS sent_at,
                     CAST(unnest($5) AS TIMESTAMPTZ) AS next_attempt_at,
                     CAST(unnest($6) AS VARCHAR) AS last_error) AS v
        WHERE notifications.notification_id = v.notification_id
        """,
        columns,
    )


def list_messages(
    con: duckdb.DuckDBPyConnection, status: str | None = None, limit: int = LIST_LIMIT
) -> list[tuple[Any, ...]]:
    """The newest messages (all, or of one status): id, event, channel, recipient, status,
    attempts, last error."""
    return con.execute(
        "SELECT notification_id, event, channel_id, recipient, status, attempts, last_error FROM notifications "
        "WHERE ? IS NULL OR status = ? ORDER BY queued_for DESC, notification_id LIMIT ?",
        [status, status, limit],
    ).fetchall()


def requeue_failed(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Queue every failed message again (attempts from 0, due now); returns how many."""
    n = con.execute(
        "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = ? "
        "WHERE status = 'failed'",
        [now],
    ).fetchall()
    return n[0][0] if n else 0
