"""Alert jobs: the importable functions the Airflow DAGs and `envmon alerts ...` both call.

- evaluate_rules(settings, start, end): every rule over the periods that end within the UTC
  data interval (start < period end <= end); idempotent.
- escalate_overdue(settings, at): overdue cases to the grid's leader; continuing-exceedance days.
- send_notifications(settings): deliver the outbox with retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb

from alerts import cases as case_flow
from alerts.lifecycle import Evaluation, EvaluationReport
from alerts.rules import RuleSet, Vocabulary, load_rules
from core.errors import ConfigError, EnvmonError
from core.periods import local_minute, local_text, utc
from core.registry.config import load_registry
from core.settings import Settings, get_settings
from notify.config import load_notification_config
from notify.delivery import DeliveryReport, deliver, settle
from notify.notice import Notice, local_times, naming
from notify.outbox import claim_due, contacts, enqueue, record, site_labels
from warehouse.db import connect, transaction
from warehouse.migrate import migrate

__all__ = [
    "EscalationReport",
    "EvaluationReport",
    "escalate_overdue",
    "evaluate_rules",
    "load_ruleset",
    "send_notifications",
]


class EmptyRangeError(EnvmonError, ValueError):
    """An evaluation range that ends where or before it starts."""


def load_ruleset(
    settings: Settings | None = None, con: duckdb.DuckDBPyConnection | None = None
) -> RuleSet:
    """The rules, validated against the registry: as loaded in the warehouse when a connection
    is given (fast), else parsed from config/registry."""
    settings = settings or get_settings()
    vocabulary = (
        Vocabulary.from_warehouse(con) if con is not None else load_registry(settings.config_dir)
    )
    return load_rules(settings.config_dir, vocabulary)


def evaluate_rules(
    settings: Settings | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    rule_ids: list[str] | None = None,
) -> EvaluationReport:
    """Evaluate every rule (or `rule_ids`) for the periods ending within [start, end) — those
    with start < period end <= end — updating alerts, cases and the notification outbox in one
    transaction. Periods already evaluated are skipped, so a re-run changes nothing."""
    settings = settings or get_settings()
    start, end = utc(start, "start"), utc(end, "end")  # type: ignore[arg-type]
    if end <= start:
        tz = settings.tz
        raise EmptyRangeError(f"nothing to evaluate: the end {local_text(end, tz)} must be after the start "
                              f"{local_text(start, tz)}")
    notifications = load_notification_config(settings.config_dir)
    with connect(settings, purpose="envmon alerts evaluate") as con:
        migrate(con)
        ruleset = load_ruleset(settings, con)
        rules = ruleset.rules
        if rule_ids:
            unknown = sorted(set(rule_ids) - set(ruleset.by_id))
            if unknown:
                raise ConfigError(
                    f"unknown rule {', '.join(unknown)}; rules: {', '.join(sorted(ruleset.by_id))}"
                )
            rules = [r for r in rules if r.rule_id in rule_ids]
        report = EvaluationReport(start, end, ruleset.config_hash)
        with transaction(con):
            evaluation = Evaluation(con, ruleset, notifications, report)
            for rule in rules:
                evaluation.run_rule(rule)
            if report.periods_evaluated:  # a re-run of evaluated hours writes nothing at all
                con.execute(
                    "INSERT OR IGNORE INTO alert_evaluations VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        start,
                        end,
                        ruleset.config_hash,
                        report.periods_evaluated,
                        len(report.alerts_opened),
                        len(report.alerts_resolved),
                        len(report.cases_opened),
                    ],
                )
    return report


@dataclass
class EscalationReport:
    at: datetime
    escalated: list[tuple[str, str | None]] = field(default_factory=list)  # (case_id, leader)
    # leader id -> "王敏 Wang Min"; case id -> the site's label ("华能北京热电厂 燃煤机组烟囱1号")
    leader_names: dict[str, str] = field(default_factory=dict)
    site_labels: dict[str, str] = field(default_factory=dict)
    continuing_days: dict[str, int] = field(default_factory=dict)  # case_id -> days counted


def escalate_overdue(
    settings: Settings | None = None, at: datetime | None = None
) -> EscalationReport:
    """Escalate overdue cases to their grid's leader (once per missed deadline) and recount the
    days on which the exceedance continued after a rectification order, as of `at`."""
    settings = settings or get_settings()
    at = utc(at, "at")  # type: ignore[arg-type]
    notifications = load_notification_config(settings.config_dir)
    report = EscalationReport(at)
    with connect(settings, purpose="envmon alerts escalate") as con:
        migrate(con)
        policy = load_ruleset(settings, con).cases
        with transaction(con):
            labels, people = site_labels(con), contacts(con)  # read once, named in every message
            rows = con.execute(
                """
                SELECT c.case_id, max(e.event_at) FILTER (WHERE e.to_state IS NOT NULL) AS last_change
                FROM cases c JOIN case_events e USING (case_id)
                WHERE c.state NOT IN ('closed', 'dismissed') AND c.opened_at <= ?
                GROUP BY c.case_id ORDER BY c.case_id
                """,
                [at],
            ).fetchall()
            for case_id, last_change in rows:
                case = case_flow.get_case(con, case_id)
                since = case_flow.overdue_since(
                    case.state,
                    case.deadline,
                    last_change,
                    policy.response_hours,
                    policy.inspection_hours,
                )
                if since is None or since > at:
                    continue
                label = labels.get(case.site_id)
                tz = label.timezone if label is not None and label.timezone else settings.tz
                reason = (  # read by people: local time with its offset
                    f"rectification deadline {local_minute(since, tz)} passed"
                    if case.state == "rectification_ordered"
                    else f"{case.state} since {local_minute(last_change, tz)}, overdue from {local_minute(since, tz)} "
                    f"({policy.basis})"
                )
                leader = case_flow.escalate(con, case, since, at, reason)
                if leader is None:
                    continue
                report.escalated.append((case_id, leader or None))
                if leader and leader in people:
                    report.leader_names[leader] = people[leader].name
                if label is not None:
                    report.site_labels[case_id] = label.label_zh
                payload = {
                    "event": "case_escalated",
                    "case_id": case_id,
                    "site_id": case.site_id,
                    "rule_family": case.rule_family,
                    "state": case.state,
                    "grid_id": case.grid_id,
                    "officer_id": case.officer_id,
                    "escalated_to": leader or None,
                    "reason": reason,
                    "title": case.title,
                    "overdue_since": since,
                    "escalated_at": at,
                    **naming(label, people.get(case.officer_id or ""), people.get(leader or "")),
                    **local_times({"overdue_since": since, "escalated_at": at}, tz),
                }
                # the subject names the enterprise, whatever opened the case
                named = case.title if label is None or case.title.startswith(label.label_zh) else (
                    f"{label.label_zh} {case.title}")
                notice = Notice(
                    event="case_escalated",
                    severity="critical",
                    at=at,
                    subject=f"[envmon] 案件逾期升级 {named} ({case_id})",
                    payload=payload,
                    case_id=case_id,
                    officer_id=case.officer_id,
                    leader_id=leader or None,
                )
                enqueue(con, notifications, notice)
            ordered = con.execute(
                "SELECT case_id FROM cases WHERE rectification_ordered_at IS NOT NULL AND rectification_ordered_at <= ? "
                "ORDER BY case_id",
                [at],
            ).fetchall()
            for (case_id,) in ordered:
                report.continuing_days[case_id] = case_flow.count_continuing_days(con, case_id, at)
    return report


def send_notifications(
    settings: Settings | None = None, *, now: datetime | None = None
) -> DeliveryReport:
    """Deliver every due message of the outbox. Messages are claimed under the writer lock, sent
    with no lock held, and their outcome recorded; a failure is retried later with backoff."""
    settings = settings or get_settings()
    config = load_notification_config(settings.config_dir)
    now = utc(now, "now") if now is not None else datetime.now(UTC)
    with connect(settings, purpose="envmon alerts send") as con:
        migrate(con)
        with transaction(con):
            messages = claim_due(con, config, now)
    if not messages:
        return DeliveryReport(0, 0, 0, [])
    outcome = deliver(messages, config, settings.log_dir)
    settled, report = settle(config, messages, outcome, now)
    with connect(settings, purpose="envmon alerts send") as con, transaction(con):
        record(con, settled)
    return report
