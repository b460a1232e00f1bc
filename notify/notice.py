"""One thing to tell people (`Notice`) and the messages it makes: one per subscribed channel
and recipient, each with an id derived from the notice, so the same notice twice is the same
messages.

Alerts, cases and pipeline failures all build a `Notice`; `plan` turns it into outbox rows
(`OutboxRow`), whether they are queued (notify.outbox) or sent at once (notify.delivery).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from core.periods import Zone, local_minute
from notify.config import (
    SEVERITY_RANK,
    EmailChannel,
    Event,
    NotificationConfig,
    Severity,
    WebhookChannel,
)

PIPELINE_FAILED = "pipeline_failed"

# officer/leader ids -> their e-mail addresses (ids without an address, or None, give nothing)
EmailsOf = Callable[[list[str | None]], list[str]]


@dataclass(frozen=True)
class Notice:
    """An event to tell people about: an alert or case event, or a pipeline failure.

    `at` is the instant it is about (the period that caused an alert event, the time of an
    escalation or a failure); e-mail goes to the officer's and the leader's addresses (as each
    channel's `to` asks) and to the channel's cc list."""

    event: Event
    severity: Severity
    at: datetime
    subject: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    alert_id: str | None = None
    case_id: str | None = None
    officer_id: str | None = None
    leader_id: str | None = None

    @property
    def body(self) -> str:
        """The payload as the JSON every channel sends (keys sorted, non-JSON values as text)."""
        return json.dumps(self.payload, ensure_ascii=False, sort_keys=True, default=str)


def pipeline_failure(failure: Mapping[str, Any], at: datetime) -> Notice:
    """The operators' notice of a pipeline task that failed for good (`failure`: dag_id,
    task_id, run_id, try_number, error, failed_at). Critical, so every channel subscribed to
    `pipeline_failed` gets it whatever its min_severity; no officer: e-mail goes to the cc list."""
    return Notice(
        event=PIPELINE_FAILED,
        severity="critical",
        at=at,
        subject=f"envmon pipeline: {failure.get('dag_id')}.{failure.get('task_id')} failed",
        payload=dict(failure),
    )


class OutboxRow(NamedTuple):
    """One message of a notice, as a row of the `notifications` outbox (status aside)."""

    notification_id: str
    event: str
    alert_id: str | None
    case_id: str | None
    channel_id: str
    channel_kind: str
    recipient: str
    subject: str
    payload: str
    queued_for: datetime
    next_attempt_at: datetime


@dataclass
class Message:
    """A message handed to delivery: where it goes, what it says, how often it was tried."""

    notification_id: str
    channel_id: str
    recipient: str
    subject: str
    payload: str
    attempts: int


@dataclass(frozen=True)
class SiteLabel:
    """How people know a site (warehouse view v_site_labels): an outlet by its enterprise's
    registered name and its own ("华能北京热电厂 燃煤机组烟囱1号"), with the enterprise's unified
    social credit code and registered address; a station or boundary point by its name."""

    site_id: str
    kind: str
    site_name_zh: str
    site_name_en: str
    timezone: str | None
    enterprise_id: str | None
    enterprise_name_zh: str | None
    enterprise_name_en: str | None
    credit_code: str | None
    enterprise_address: str | None
    label_zh: str
    label_en: str

    @property
    def label(self) -> str:
        """Chinese first, English beside."""
        return f"{self.label_zh} {self.label_en}"


@dataclass(frozen=True)
class Contact:
    """A person a notice names (warehouse view v_people): officer or staff, with a phone."""

    person_id: str
    name_zh: str
    name_en: str
    phone: str | None = None

    @property
    def name(self) -> str:
        """As people know them: "李艳 Li Yan"."""
        return f"{self.name_zh} {self.name_en}"


def naming(
    label: SiteLabel | None,
    officer: Contact | None,
    leader: Contact | None,
) -> dict[str, Any]:
    """The payload fields that name what a notice is about, as people know it: the enterprise
    (registered name, credit code, address), the site's label, the officer and the leader by
    name and phone. Keys are always present (None when unknown), so receivers can rely on them."""
    return {
        "enterprise_id": label.enterprise_id if label else None,
        "enterprise_name_zh": label.enterprise_name_zh if label else None,
        "enterprise_name_en": label.enterprise_name_en if label else None,
        "credit_code": label.credit_code if label else None,
        "enterprise_address": label.enterprise_address if label else None,
        "site_label_zh": label.label_zh if label else None,
        "site_label_en": label.label_en if label else None,
        "officer_name": officer.name if officer else None,
        "officer_phone": officer.phone if officer else None,
        "leader_id": leader.person_id if leader else None,
        "leader_name": leader.name if leader else None,
        "leader_phone": leader.phone if leader else None,
    }


def local_times(times: Mapping[str, datetime | None], tz: Zone) -> dict[str, str | None]:
    """`<key>_local` text fields beside a payload's ISO UTC times: local time to the minute with
    its offset ("2026-12-05 00:00+08:00"), None for None."""
    return {f"{k}_local": (local_minute(v, tz) if v is not None else None) for k, v in times.items()}


def no_emails(ids: list[str | None]) -> list[str]:
    """For a notice sent without the warehouse: no officer addresses to look up."""
    return []


def emails_from(addresses: Mapping[str, str | None]) -> EmailsOf:
    """EmailsOf over addresses already read (officer id -> e-mail; notify.outbox.
    officer_addresses): the ids' addresses in order, skipping None and ids without one."""

    def emails_of(ids: list[str | None]) -> list[str]:
        return [a for i in ids if i and (a := addresses.get(i))]

    return emails_of


def message_id(notice: Notice, channel_id: str, recipient: str) -> str:
    """An alert or case message is identified by its event, alert, case, channel, recipient and
    period; a pipeline failure (about no alert or case) by its channel, recipient and content."""
    if notice.event == PIPELINE_FAILED:
        parts = [notice.event, channel_id, recipient, notice.body]
    else:
        parts = [
            notice.event,
            notice.alert_id or "",
            notice.case_id or "",
            channel_id,
            recipient,
            notice.at.isoformat(),
        ]
    return "N" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def plan(notice: Notice, config: NotificationConfig, emails_of: EmailsOf) -> list[OutboxRow]:
    """The messages of one notice: one per channel subscribed to its event at its severity, and
    per recipient (e-mail: the officer's / leader's addresses and the cc list, sorted)."""
    rows = []
    body = notice.body
    for channel in config.channels:
        if (
            notice.event not in channel.events
            or SEVERITY_RANK[notice.severity] < SEVERITY_RANK[channel.min_severity]
        ):
            continue
        if isinstance(channel, EmailChannel):
            wanted = []
            if "officer" in channel.to:
                wanted.append(notice.officer_id)
            if "leader" in channel.to:
                wanted.append(notice.leader_id)
            recipients = sorted(set(emails_of(wanted)) | set(channel.cc))
        elif isinstance(channel, WebhookChannel):
            recipients = [channel.url]
        else:
            recipients = [channel.path]
        for recipient in recipients:
            rows.append(
                OutboxRow(
                    message_id(notice, channel.channel_id, recipient),
                    notice.event,
                    notice.alert_id,
                    notice.case_id,
                    channel.channel_id,
                    channel.kind,
                    recipient,
                    notice.subject,
                    body,
                    notice.at,
                    notice.at,
                )
            )
    return rows
