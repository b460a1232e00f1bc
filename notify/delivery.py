"""Delivery: sending messages by e-mail, webhook or log file, and the retry policy of those
that fail.

Within one run an e-mail channel's messages share one SMTP session, and a channel that cannot
be reached is not tried again until the next run. A failed message is retried with exponential
backoff (`settle`); after the last attempt it is `failed`, never dropped. A pipeline failure is
sent at once (`send_now`), without the outbox: the failing task may be the one holding (or
waiting for) the warehouse.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import NamedTuple

from notify.config import AnyChannel, EmailChannel, NotificationConfig, WebhookChannel
from notify.notice import Message, Notice, no_emails, plan

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int
    retried: int
    failed: int
    errors: list[str]


class Settled(NamedTuple):
    """A message's state after a delivery attempt, as written back to the outbox."""

    notification_id: str
    status: str  # sent | pending (to retry) | failed (gave up)
    attempts: int
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


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


def send_one(channel: AnyChannel, message: Message, log_dir: Path) -> None:
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


SEND_ERRORS = (OSError, smtplib.SMTPException, urllib.error.URLError, ValueError)


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

    def send(self, channel: AnyChannel, message: Message) -> None:
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
        except SEND_ERRORS as exc:
            if isinstance(channel, WebhookChannel) and _webhook_unreachable(exc):
                self.unreachable[channel.channel_id] = _describe(exc)
            raise

    def _email(self, channel: EmailChannel, message: Message) -> None:
        smtp = self.sessions.get(channel.channel_id)
        if smtp is None:
            try:
                smtp = self.sessions[channel.channel_id] = _smtp_session(channel)
            except SEND_ERRORS as exc:
                self.unreachable[channel.channel_id] = _describe(exc)
                raise
        try:
            smtp.send_message(_mail(channel, message))
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused):
            raise  # the server refused this message (a recipient, its size): the session is fine
        except SEND_ERRORS:
            self.sessions.pop(channel.channel_id).close()  # broken session: the next one reconnects
            raise

    def close(self) -> None:
        for smtp in self.sessions.values():
            try:
                smtp.quit()
            except SEND_ERRORS:
                smtp.close()
        self.sessions.clear()


def deliver(
    messages: Sequence[Message], config: NotificationConfig, log_dir: Path
) -> dict[str, str | None]:
    """Send each message (no warehouse lock held); notification_id -> error or None."""
    channels = {c.channel_id: c for c in config.channels}
    outcome: dict[str, str | None] = {}
    run = _Run(log_dir)
    # failed messages by (channel, cause): logged once per group at the end of the run, not once
    # per message (a channel that is down would repeat one line for each of its messages); a
    # message not tried because its channel failed earlier counts with that failure
    failures: dict[tuple[str, str], list[str]] = {}
    try:
        for m in messages:
            channel = channels.get(m.channel_id)
            if channel is None:
                outcome[m.notification_id] = f"channel {m.channel_id!r} is no longer configured"
                continue
            try:
                run.send(channel, m)
                outcome[m.notification_id] = None
            except SEND_ERRORS as exc:
                outcome[m.notification_id] = _describe(exc)
                cause = run.unreachable.get(m.channel_id, _describe(exc))
                failures.setdefault((m.channel_id, cause), []).append(m.notification_id)
    finally:
        run.close()
        for (channel_id, cause), ids in failures.items():
            log.warning(
                "%d notification(s) via %s failed: %s (first %s)", len(ids), channel_id, cause, ids[0]
            )
    return outcome


def settle(
    config: NotificationConfig,
    messages: Sequence[Message],
    outcome: dict[str, str | None],
    now: datetime,
) -> tuple[list[Settled], DeliveryReport]:
    """Each message's next state after this run: sent; or due again after the retry backoff;
    or, at retry.max_attempts, failed (kept, with its last error)."""
    report = DeliveryReport(0, 0, 0, [])
    settled: list[Settled] = []
    for m in messages:
        error = outcome.get(m.notification_id, "not attempted")
        attempts = m.attempts + 1
        if error is None:
            settled.append(Settled(m.notification_id, "sent", attempts, now, None, None))
            report.sent += 1
        elif attempts >= config.retry.max_attempts:
            settled.append(Settled(m.notification_id, "failed", attempts, None, None, error))
            report.failed += 1
            report.errors.append(
                f"{m.notification_id} ({m.channel_id} → {m.recipient}): {error}; gave up"
            )
        else:
            retry_at = now + config.retry.delay(attempts)
            settled.append(Settled(m.notification_id, "pending", attempts, None, retry_at, error))
            report.retried += 1
            report.errors.append(
                f"{m.notification_id} ({m.channel_id} → {m.recipient}): {error}; will retry"
            )
    return settled, report


def send_now(notice: Notice, config: NotificationConfig, log_dir: Path) -> dict[str, str | None]:
    """Send a pipeline failure's notice straight to its channels, each message on its own,
    without the outbox: the caller has already written the failure to the pipeline log, so a
    channel that is down loses nothing. Returns "channel_id:recipient" -> error or None."""
    channels = {c.channel_id: c for c in config.channels}
    outcome: dict[str, str | None] = {}
    for row in plan(notice, config, no_emails):
        message = Message(
            row.notification_id, row.channel_id, row.recipient, row.subject, row.payload, 0
        )
        key = f"{row.channel_id}:{row.recipient}"
        try:
            send_one(channels[row.channel_id], message, log_dir)
            outcome[key] = None
        except SEND_ERRORS as exc:
            outcome[key] = _describe(exc)
            log.warning("pipeline failure notice via %s failed: %s", row.channel_id, exc)
    return outcome
