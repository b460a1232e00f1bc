"""Notifications: channel configuration, the outbox, and delivery with retries.

Evaluation only queues messages (table `notifications`, inside its transaction); delivery
(`deliver_outbox`) claims due messages under the writer lock, sends them with no lock held,
and records the outcome. A channel that fails is retried with exponential backoff; after the
last attempt the message stays in the outbox as `failed` (shown by `envmon alerts outbox`,
re-queued by `--retry-failed`), so no alert is ever lost to a channel outage. Within one run an
e-mail channel's messages share one SMTP session, and a channel that cannot be reached is not
tried again until the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any, Literal

import duckdb
import yaml
from pydantic import Field, ValidationError

from core.errors import ConfigError, format_validation_error
from core.strict import StrictModel

log = logging.getLogger(__name__)

EVENTS = (
    "alert_firing",
    "alert_repeat",
    "alert_resolved",
    "case_opened",
    "case_escalated",
    "pipeline_failed",
)
SEVERITY_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}
Event = Literal[
    "alert_firing",
    "alert_repeat",
    "alert_resolved",
    "case_opened",
    "case_escalated",
    "pipeline_failed",
]
Severity = Literal["info", "minor", "major", "critical"]


class _Channel(StrictModel):
    channel_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    events: list[Event] = Field(min_length=1)
    min_severity: Severity = "info"


class EmailChannel(_Channel):
    kind: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(ge=1, le=65535)
    sender: str
    to: list[Literal["officer", "leader"]] = ["officer"]
    cc: list[str] = []
    timeout_s: float = Field(default=10.0, gt=0)
    starttls: bool = False


class WebhookChannel(_Channel):
    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=10.0, gt=0)


class LogChannel(_Channel):
    kind: Literal["log"]
    path: str = "alerts.log"  # relative to the log folder ($ENVMON_HOME/log)


Channel = Annotated[EmailChannel | WebhookChannel | LogChannel, Field(discriminator="kind")]


class Retry(StrictModel):
    max_attempts: int = Field(default=8, ge=1)
    backoff_s: float = Field(default=60.0, ge=0)
    factor: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=3600.0, ge=0)
    claim_timeout_s: float = Field(default=600.0, gt=0)

    def delay(self, attempts: int) -> timedelta:
        return timedelta(
            seconds=min(self.backoff_s * self.factor ** max(attempts - 1, 0), self.max_backoff_s)
        )


class NotificationConfig(StrictModel):
    channels: list[Channel]
    retry: Retry = Retry()


def load_notification_config(config_dir: Path) -> NotificationConfig:
    path = Path(config_dir) / "notifications.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing; it lists the notification channels (email, webhook, log)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        config = NotificationConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            "notification channels are invalid:\n" + format_validation_error(str(path), exc)
        ) from None
    ids = [c.channel_id for c in config.channels]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"{path}: channels: channel_id {', '.join(dupes)} given twice")
    return config


# ---------------------------------------------------------------------------- queueing
def _officer_emails(con: duckdb.DuckDBPyConnection, officer_ids: list[str | None]) -> list[str]:
    out = []
    for officer_id in officer_ids:
        if officer_id:
            row = con.execute(
                "SELECT email FROM officers WHERE officer_id = ?", [officer_id]
            ).fetchall()
            if row and row[0][0]:
                out.append(row[0][0])
    return out


def plan_messages(
    emails_of: Callable[[list[str | None]], list[str]],
    config: NotificationConfig,
    *,
    event: str,
    severity: str,
    at: datetime,
    subject: str,
    payload: dict[str, Any],
    alert_id: str | None = None,
    case_id: str | None = None,
    officer_id: str | None = None,
    leader_id: str | None = None,
) -> list[tuple[Any, ...]]:
    """The outbox rows of one event: one per channel (and e-mail recipient), each with an id
    derived from the event, its subject and period, so the same event twice is the same rows."""
    rows = []
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    for channel in config.channels:
        if (
            event not in channel.events
            or SEVERITY_RANK[severity] < SEVERITY_RANK[channel.min_severity]
        ):
            continue
        if isinstance(channel, EmailChannel):
            wanted = []
            if "officer" in channel.to:
                wanted.append(officer_id)
            if "leader" in channel.to:
                wanted.append(leader_id)
            recipients = sorted(set(emails_of(wanted)) | set(channel.cc))
        elif isinstance(channel, WebhookChannel):
            recipients = [channel.url]
        else:
            recipients = [channel.path]
        for recipient in recipients:
            key = "|".join(
                [
                    event,
                    alert_id or "",
                    case_id or "",
                    channel.channel_id,
                    recipient,
                    at.isoformat(),
                ]
            )
            nid = "N" + hashlib.sha256(key.encode()).hexdigest()[:16]
            rows.append(
                (
                    nid,
                    event,
                    alert_id,
                    case_id,
                    channel.channel_id,
                    channel.kind,
                    recipient,
                    subject,
                    body,
                    at,
                    at,
                )
            )
    return rows


def insert_messages(con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> int:
    """Add the planned rows the outbox does not hold yet (the first of equal ids wins), in
    bulk; returns how many were added."""
    fresh: dict[str, tuple[Any, ...]] = {}
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


def queue(
    con: duckdb.DuckDBPyConnection,
    config: NotificationConfig,
    *,
    event: str,
    severity: str,
    at: datetime,
    subject: str,
    payload: dict[str, Any],
    alert_id: str | None = None,
    case_id: str | None = None,
    officer_id: str | None = None,
    leader_id: str | None = None,
) -> int:
    """Put one message per channel (and e-mail recipient) in the outbox; ids are derived from
    the event, its subject and period, so queueing the same event twice adds nothing."""
    rows = plan_messages(
        lambda ids: _officer_emails(con, ids),
        config,
        event=event,
        severity=severity,
        at=at,
        subject=subject,
        payload=payload,
        alert_id=alert_id,
        case_id=case_id,
        officer_id=officer_id,
        leader_id=leader_id,
    )
    return insert_messages(con, rows)


# ---------------------------------------------------------------------------- delivery
@dataclass
class Message:
    notification_id: str
    channel_id: str
    recipient: str
    subject: str
    payload: str
    attempts: int


@dataclass
class DeliveryReport:
    sent: int
    retried: int
    failed: int
    errors: list[str]


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


def _mail(channel: EmailChannel, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = channel.sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["X-Envmon-Notification"] = message.notification_id
    payload = json.loads(message.payload)
    lines = [f"{k}: {v}" for k, v in sorted(payload.items()) if v is not None]
    mail.set_content(message.subject + "\n\n" + "\n".join(lines) + "\n")
    return mail


def _smtp_session(channel: EmailChannel) -> smtplib.SMTP:
    smtp = smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=channel.timeout_s)
    try:
        if channel.starttls:
            smtp.starttls()
    except BaseException:
        smtp.close()
        raise
    return smtp


def send_one(channel: Any, message: Message, log_dir: Path) -> None:
    """Deliver one message (an e-mail in its own SMTP session); raise on any failure."""
    if isinstance(channel, EmailChannel):
        with _smtp_session(channel) as smtp:
            smtp.send_message(_mail(channel, message))
    elif isinstance(channel, WebhookChannel):
        request = urllib.request.Request(
            channel.url,
            data=message.payload.encode("utf-8"),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Envmon-Notification": message.notification_id,
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=channel.timeout_s) as response:
            if not 200 <= response.status < 300:
                raise OSError(f"HTTP {response.status}")
    else:
        path = Path(channel.path)
        path = path if path.is_absolute() else log_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "notification_id": message.notification_id,
            "subject": message.subject,
            **json.loads(message.payload),
        }
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


_SEND_ERRORS = (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _webhook_unreachable(exc: BaseException) -> bool:
    """No HTTP answer at all (refused, timed out, no route) — not a status the server sent."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    if isinstance(exc, urllib.error.URLError):
        return isinstance(exc.reason, OSError)
    return isinstance(exc, TimeoutError)


class _Run:
    """One delivery run's connections: one SMTP session per e-mail channel for all its messages
    (not one per message), and a channel that cannot be reached is not tried again in the run —
    with a server that times out, trying each of thousands of queued messages would take hours.
    Its messages get that error and wait for their retry like any failed message."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.sessions: dict[str, smtplib.SMTP] = {}
        self.unreachable: dict[str, str] = {}

    def send(self, channel: Any, message: Message) -> None:
        if channel.channel_id in self.unreachable:
            raise OSError(
                f"not tried: {channel.channel_id} could not be reached earlier in this run "
                f"({self.unreachable[channel.channel_id]})"
            )
        if isinstance(channel, EmailChannel):
            self._email(channel, message)
            return
        try:
            send_one(channel, message, self.log_dir)
        except _SEND_ERRORS as exc:
            if isinstance(channel, WebhookChannel) and _webhook_unreachable(exc):
                self.unreachable[channel.channel_id] = _describe(exc)
            raise

    def _email(self, channel: EmailChannel, message: Message) -> None:
        smtp = self.sessions.get(channel.channel_id)
        if smtp is None:
            try:
                smtp = self.sessions[channel.channel_id] = _smtp_session(channel)
            except _SEND_ERRORS as exc:
                self.unreachable[channel.channel_id] = _describe(exc)
                raise
        try:
            smtp.send_message(_mail(channel, message))
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
            raise  # the server refused this message (a recipient, its size): the session is fine
        except _SEND_ERRORS:
            self.sessions.pop(channel.channel_id).close()  # broken session: the next one reconnects
            raise

    def close(self) -> None:
        for smtp in self.sessions.values():
            try:
                smtp.quit()
            except _SEND_ERRORS:
                smtp.close()
        self.sessions.clear()


def deliver(
    messages: list[Message], config: NotificationConfig, log_dir: Path
) -> dict[str, str | None]:
    """Send each message (no warehouse lock held); notification_id -> error or None."""
    channels = {c.channel_id: c for c in config.channels}
    outcome: dict[str, str | None] = {}
    run = _Run(log_dir)
    try:
        for m in messages:
            channel = channels.get(m.channel_id)
            if channel is None:
                outcome[m.notification_id] = f"channel {m.channel_id!r} is no longer configured"
                continue
            try:
                run.send(channel, m)
                outcome[m.notification_id] = None
            except _SEND_ERRORS as exc:
                outcome[m.notification_id] = _describe(exc)
                log.warning(
                    "notification %s via %s failed: %s", m.notification_id, m.channel_id, exc
                )
    finally:
        run.close()
    return outcome


def record(
    con: duckdb.DuckDBPyConnection,
    config: NotificationConfig,
    messages: list[Message],
    outcome: dict[str, str | None],
    now: datetime,
) -> DeliveryReport:
    report = DeliveryReport(0, 0, 0, [])
    # (id, status, attempts, sent_at, next_attempt_at, last_error), written in one statement;
    # sent_at stays as it was unless the message was sent now
    updates: list[tuple[Any, ...]] = []
    for m in messages:
        error = outcome.get(m.notification_id, "not attempted")
        attempts = m.attempts + 1
        if error is None:
            updates.append((m.notification_id, "sent", attempts, now, None, None))
            report.sent += 1
        elif attempts >= config.retry.max_attempts:
            updates.append((m.notification_id, "failed", attempts, None, None, error))
            report.failed += 1
            report.errors.append(
                f"{m.notification_id} ({m.channel_id} → {m.recipient}): {error}; gave up"
            )
        else:
            retry_at = now + config.retry.delay(attempts)
            updates.append((m.notification_id, "pending", attempts, None, retry_at, error))
            report.retried += 1
            report.errors.append(
                f"{m.notification_id} ({m.channel_id} → {m.recipient}): {error}; will retry"
            )
    if updates:
        columns = [list(c) for c in zip(*updates, strict=True)]
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
    return report


def utcnow() -> datetime:
    return datetime.now(UTC)


def notify_pipeline_failure(settings: Any, failure: dict[str, Any]) -> dict[str, str | None]:
    """Tell the operators that a pipeline task failed for good (the DAGs' failure callback).

    Sent straight to every channel subscribed to `pipeline_failed`, without the outbox: the
    failing task may be the one holding (or waiting for) the warehouse. The caller has already
    written the failure to the pipeline log, so a channel that is down loses nothing.
    E-mail channels go to their `cc` list (operators), not to grid officers.
    """
    config = load_notification_config(settings.config_dir)
    subject = f"envmon pipeline: {failure.get('dag_id')}.{failure.get('task_id')} failed"
    payload = json.dumps(failure, ensure_ascii=False, sort_keys=True, default=str)
    outcome: dict[str, str | None] = {}
    for channel in config.channels:
        if "pipeline_failed" not in channel.events:
            continue
        if isinstance(channel, EmailChannel):
            recipients = list(channel.cc)
        elif isinstance(channel, WebhookChannel):
            recipients = [channel.url]
        else:
            recipients = [channel.path]
        for recipient in recipients:
            key = "|".join(["pipeline_failed", channel.channel_id, recipient, payload])
            message = Message(
                "N" + hashlib.sha256(key.encode()).hexdigest()[:16],
                channel.channel_id,
                recipient,
                subject,
                payload,
                0,
            )
            try:
                send_one(channel, message, Path(settings.log_dir))
                outcome[f"{channel.channel_id}:{recipient}"] = None
            except _SEND_ERRORS as exc:
                outcome[f"{channel.channel_id}:{recipient}"] = _describe(exc)
                log.warning("pipeline failure notice via %s failed: %s", channel.channel_id, exc)
    return outcome
