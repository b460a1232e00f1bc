"""Alert lifecycle: the evaluator that applies the alert state machine (alerts.hysteresis:
durations, firing → resolved with hysteresis, silences, repeated notifications) to a rule's
observations and writes what it decides — alerts, evidence periods, cases, the outbox, cursors.

Per rule, site and parameter at most one alert is firing. A period is evaluated once: the
cursor (`alert_cursors`) remembers the end of the last period evaluated, so evaluating the
same hours again changes nothing. Every automatic timestamp is the end of the period that
caused it, never the clock.

Writes are set-based: the alerts, evidence periods, outbox rows and cursors a rule changes are
kept in memory while its series are stepped and written in bulk when the rule is done (one
statement per table, not one per row); series with nothing exceeded and no alert firing only
move their cursor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from alerts import cases as case_flow
from alerts.hysteresis import (
    Move,
    alert_id,
    duration_met,
    evidence,
    firing_move,
    is_worse,
    notification_due,
    pending,
    ratio_applies,
    run_back,
    silenced_by,
)
from alerts.observe import Observation, Observer, Window
from alerts.routing import Router
from alerts.rules import RuleSet, ThresholdRule
from core.periods import Zone, local_minute
from core.settings import get_settings
from notify.config import NotificationConfig
from notify.notice import Notice, OutboxRow, SiteLabel, emails_from, local_times, naming, plan
from notify.outbox import contacts, insert_messages, officer_addresses, site_labels
from warehouse.bulk import insert_rows

ALERT_COLUMNS = (
    "alert_id",
    "rule_id",
    "site_id",
    "parameter",
    "severity",
    "state",
    "first_period",
    "last_period",
    "resolved_period",
    "max_value",
    "limit_value",
    "unit",
    "message",
    "acknowledged_by",
    "acknowledged_at",
    "case_id",
    "created_at",
    "rule_family",
    "rule_kind",
    "statistic",
    "grid_id",
    "officer_id",
    "periods_exceeded",
    "hours_exceeded",
    "max_multiple",
    "normal_streak",
    "silenced_by",
    "last_notified_period",
)


@dataclass
class EvaluationReport:
    range_start: datetime
    range_end: datetime
    rules_hash: str
    rules_evaluated: int = 0
    periods_evaluated: int = 0
    alerts_opened: list[str] = field(default_factory=list)
    alerts_resolved: list[str] = field(default_factory=list)
    cases_opened: list[str] = field(default_factory=list)
    notifications_queued: int = 0


class Evaluation:
    """One evaluation run over [start, end): the shared state of every rule's lifecycle."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        ruleset: RuleSet,
        notifications: NotificationConfig,
        report: EvaluationReport,
    ) -> None:
        self.con = con
        self.ruleset = ruleset
        self.notifications = notifications
        self.report = report
        self.observer = Observer(con, ruleset)
        self.silences = con.execute(
            "SELECT silence_id, site_id, rule_id, parameter, starts_at, ends_at, revoked_at FROM silences "
            "WHERE kind = 'silence' ORDER BY silence_id"
        ).fetchall()
        # the registry cannot change while the evaluation holds the writer lock: read it once
        self.router = Router(con)
        self.emails_of = emails_from(officer_addresses(con))
        # how people name sites and people (v_site_labels, v_people): case titles, messages and
        # notifications name the enterprise, the outlet and the officers by name
        self.labels = site_labels(con)
        self.people = contacts(con)
        self.tz: Zone = get_settings().tz
        self.cases: dict[str, case_flow.CaseRow] = {}
        self.casebook = case_flow.CaseBatch(con, self.router, ruleset.cases.reopen_days)
        # written when the rule is done (flush): alert rows (new ones apart), evidence, outbox
        self.dirty: dict[str, dict[str, Any]] = {}
        self.new_alerts: set[str] = set()
        self.periods: dict[tuple[str, datetime], tuple[Any, ...]] = {}
        self.outbox: list[OutboxRow] = []
        self.known_ids: set[str] = set()

    # ---------------------------------------------------------------------------- driver
    def run_rule(self, rule: Any) -> None:
        window = Window(rule, self.report.range_start, self.report.range_end)
        observations = self.observer.observe(rule, window)
        series: dict[tuple[str, str], list[Observation]] = {}
        for o in observations:
            series.setdefault((o.site_id, o.parameter or ""), []).append(o)
        cursors = {
            (s, p): t
            for s, p, t in self.con.execute(
                "SELECT site_id, parameter, evaluated_through FROM alert_cursors WHERE rule_id = ?",
                [rule.rule_id],
            ).fetchall()
        }
        firing = {
            (row["site_id"], row["parameter"] or ""): row
            for row in self._alerts("WHERE rule_id = ? AND state = 'firing'", [rule.rule_id])
        }
        self.known_ids = {
            a
            for (a,) in self.con.execute(
                "SELECT alert_id FROM alerts WHERE rule_id = ?", [rule.rule_id]
            ).fetchall()
        }
        moved = []
        for key, obs in sorted(series.items()):
            todo = pending(obs, window.start, cursors.get(key))
            if not todo:
                continue
            alert = firing.get(key)
            # without a firing alert, only an exceeded period can change anything (step)
            if alert is not None or any(o.exceeded for o in todo):
                by_end = {o.period_end: o for o in obs}
                for o in todo:
                    alert = self.step(rule, o, by_end, alert)
            self.report.periods_evaluated += len(todo)
            moved.append((rule.rule_id, key[0], key[1], todo[-1].period_end))
        self.flush()
        insert_rows(self.con, "INSERT OR REPLACE INTO alert_cursors", moved, 4)
        self.report.rules_evaluated += 1

    def flush(self) -> None:
        """Write what the rule changed: new alerts, updated alerts, evidence, the outbox."""
        new = [self.dirty[a] for a in self.dirty if a in self.new_alerts]
        insert_rows(
            self.con,
            f"INSERT INTO alerts ({', '.join(ALERT_COLUMNS)})",
            [tuple(a[c] for c in ALERT_COLUMNS) for a in new],
            len(ALERT_COLUMNS),
        )
        changed = [self.dirty[a] for a in self.dirty if a not in self.new_alerts]
        cols = [c for c in ALERT_COLUMNS if c != "alert_id"]
        for chunk in range(0, len(changed), 200):
            part = changed[chunk : chunk + 200]
            row = f"({', '.join('?' * len(ALERT_COLUMNS))})"
            self.con.execute(
                f"UPDATE alerts SET {', '.join(f'{c} = v.{c}' for c in cols)} "
                f"FROM (VALUES {', '.join(row for _ in part)}) AS v({', '.join(ALERT_COLUMNS)}) "
                "WHERE alerts.alert_id = v.alert_id",
                [a[c] for a in part for c in ALERT_COLUMNS],
            )
        insert_rows(
            self.con,
            "INSERT OR IGNORE INTO alert_periods",
            list(self.periods.values()),
            9,
        )
        self.report.notifications_queued += insert_messages(self.con, self.outbox)
        self.casebook.flush()
        self.dirty, self.new_alerts, self.periods, self.outbox = {}, set(), {}, []

    def _alerts(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        rows = self.con.execute(
            f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts {where}", params
        ).fetchall()
        return [dict(zip(ALERT_COLUMNS, r, strict=True)) for r in rows]

    # ---------------------------------------------------------------------------- one period
    def step(
        self,
        rule: Any,
        o: Observation,
        by_end: dict[datetime, Observation],
        alert: dict[str, Any] | None,
    ) -> dict[str, Any] | None:
        """One period of a series: open an alert, or move the firing one; the alert firing
        after the period, if any."""
        if alert is None:
            chain = run_back(o, by_end, rule.duration.window)
            verdicts = [c.exceeded for c in chain]
            if duration_met(verdicts, rule.duration.consecutive, rule.duration.at_least):
                return self._open(rule, o, chain, by_end)
            return None
        self._record_period(alert["alert_id"], o)
        move, alert["normal_streak"] = firing_move(
            o.exceeded, alert["normal_streak"], rule.clear_after
        )
        if move is Move.EXCEEDED:
            alert["last_period"] = o.period_start
            self._count_exceeded(rule, alert, o)
        elif move is Move.CLEAR:
            self._resolve(rule, alert, o)
            return None
        self._follow_up(rule, alert, o)
        self._save(alert)
        return alert

    @staticmethod
    def _count_exceeded(rule: Any, alert: dict[str, Any], o: Observation) -> None:
        alert["periods_exceeded"] += 1
        alert["hours_exceeded"] += o.interval_s / 3600
        comparison = getattr(rule, "comparison", None)
        if o.value is not None and is_worse(o.value, alert["max_value"], comparison or "above"):
            alert["max_value"], alert["limit_value"] = o.value, o.limit
        statistic = getattr(rule, "statistic", None)
        if ratio_applies(rule.kind, comparison, statistic) and o.multiple is not None:
            alert["max_multiple"] = max(alert["max_multiple"] or 0.0, o.multiple)

    def _record_period(self, alert_id: str, o: Observation) -> None:
        # INSERT OR IGNORE: the first record of a period stands
        self.periods.setdefault(
            (alert_id, o.period_start),
            (
                alert_id,
                o.period_start,
                o.interval_s,
                o.value,
                o.limit,
                o.unit,
                o.multiple,
                bool(o.exceeded),
                o.detail,
            ),
        )

    # ---------------------------------------------------------------------------- transitions
    def _open(
        self,
        rule: Any,
        o: Observation,
        chain: list[Observation],
        by_end: dict[datetime, Observation],
    ) -> dict[str, Any] | None:
        exceeded = [c for c in reversed(chain) if c.exceeded]
        first = exceeded[0]
        new_id = alert_id(rule.rule_id, o.site_id, o.parameter, first.period_start)
        if new_id in self.dirty:  # opened earlier in this run (the series re-fired)
            known = [self.dirty[new_id]]
        elif new_id in self.known_ids:
            known = self._alerts("WHERE alert_id = ?", [new_id])
        else:
            known = []
        if known:  # opened before (the cursor was reset): carry on with it if it still fires
            return known[0] if known[0]["state"] == "firing" else None
        route = self.router.route(o.site_id)
        site = self.observer.sites[o.site_id]
        alert: dict[str, Any] = dict.fromkeys(ALERT_COLUMNS)
        alert.update(
            alert_id=new_id,
            rule_id=rule.rule_id,
            site_id=o.site_id,
            parameter=o.parameter,
            severity=rule.severity,
            state="firing",
            first_period=first.period_start,
            last_period=o.period_start,
            created_at=o.period_end,
            unit=o.unit,
            rule_family=rule.family,
            rule_kind=rule.kind,
            statistic=getattr(rule, "statistic", None),
            grid_id=route.grid_id,
            officer_id=route.officer_id,
            periods_exceeded=0,
            hours_exceeded=0.0,
            normal_streak=0,
        )
        for c in exceeded:
            self._count_exceeded(rule, alert, c)
        alert["message"] = self._message(rule, site, alert, o)
        self.new_alerts.add(new_id)
        self.dirty[new_id] = alert
        # Evidence: the triggering periods (with the no-data hours looked through between
        # them) and the context before the first exceedance.
        for c in evidence(o, chain, by_end, rule.context_periods):
            self._record_period(new_id, c)
        self.report.alerts_opened.append(new_id)
        self._follow_up(rule, alert, o)
        self._save(alert)
        return alert

    def _follow_up(self, rule: Any, alert: dict[str, Any], o: Observation) -> None:
        """Silences, the case, first and repeated notifications — as of the period's end."""
        at = o.period_end
        alert["silenced_by"] = silenced_by(
            self.silences, rule.rule_id, alert["site_id"], alert["parameter"], at
        )
        if alert["silenced_by"]:
            return
        if rule.opens_case and alert["case_id"] is None:
            label_zh, label_en = self._names(alert["site_id"])
            title = f"{label_zh} {rule.name_zh} / {label_en}: {rule.name_en}"
            case_id, opened = self.casebook.open_or_attach(
                alert_id=alert["alert_id"],
                site_id=alert["site_id"],
                family=rule.family,
                parameter=alert["parameter"],
                severity=rule.severity,
                title=title,
                message=alert["message"],
                at=at,
            )
            alert["case_id"] = case_id
            self.cases.pop(case_id, None)  # it may have been reopened just now: read it again
            if opened:
                self.report.cases_opened.append(case_id)
                self._notify("case_opened", rule, alert, at)
        due = notification_due(
            at,
            alert["last_notified_period"],
            rule.repeat_every_h,
            acknowledged=alert["acknowledged_by"] is not None,
        )
        if due is not None:
            self._notify(due, rule, alert, at)
            alert["last_notified_period"] = at

    def _resolve(self, rule: Any, alert: dict[str, Any], o: Observation) -> None:
        alert["state"] = "resolved"
        alert["resolved_period"] = o.period_end
        self._save(alert)
        self.report.alerts_resolved.append(alert["alert_id"])
        if alert["case_id"]:
            case = self._case(alert["case_id"])
            if case.state not in case_flow.TERMINAL:
                self.casebook.add_event(
                    case.case_id,
                    o.period_end,
                    case_flow.SYSTEM,
                    "alert_resolved",
                    note=f"alert {alert['alert_id']} cleared at {local_minute(o.period_end, self._zone(alert['site_id']))} "
                    f"after {rule.clear_after} normal period(s)",
                )
        if alert["last_notified_period"] is not None and not alert["silenced_by"]:
            self._notify("alert_resolved", rule, alert, o.period_end)

    def _save(self, alert: dict[str, Any]) -> None:
        self.dirty[alert["alert_id"]] = alert  # written by flush, as it is then

    def _case(self, case_id: str) -> case_flow.CaseRow:
        # an evaluation opens or reopens cases but never changes one's grid or officer
        if case_id not in self.cases:
            self.cases[case_id] = case_flow.get_case(self.con, case_id)
        return self.cases[case_id]

    # ---------------------------------------------------------------------------- helpers
    def _label(self, site_id: str) -> SiteLabel | None:
        return self.labels.get(site_id)

    def _names(self, site_id: str) -> tuple[str, str]:
        """The site as people know it (Chinese, English): the enterprise and the outlet."""
        label = self._label(site_id)
        if label is not None:
            return label.label_zh, label.label_en
        site = self.observer.sites[site_id]
        return site.name_zh, site.name_en

    def _zone(self, site_id: str) -> Zone:
        """The site's time zone, for times people read; the settings' when it has none."""
        label = self._label(site_id)
        return label.timezone if label is not None and label.timezone else self.tz

    def _message(self, rule: Any, site: Any, alert: dict[str, Any], o: Observation) -> str:
        label_zh, label_en = self._names(site.site_id)
        what = f"{label_zh} {label_en} ({site.site_id})" + (
            f" {alert['parameter']}" if alert["parameter"] else ""
        )
        text = f"{rule.name_en}: {what}"
        if (
            isinstance(rule, ThresholdRule)
            and alert["max_value"] is not None
            and alert["limit_value"] is not None
        ):
            unit = alert["unit"] or ""
            text += f": {alert['max_value']:.4g} {unit} against the limit {alert['limit_value']:.4g} {unit}"
            if alert["max_multiple"]:
                text += f" ({alert['max_multiple']:.3f} × the limit)"
        if o.detail:
            text += f" [{o.detail}]"
        return text

    def _notify(self, event: str, rule: Any, alert: dict[str, Any], at: datetime) -> None:
        site = self.observer.sites[alert["site_id"]]
        officer = alert["officer_id"]
        grid = alert["grid_id"]
        if alert["case_id"]:
            case = self._case(alert["case_id"])
            officer, grid = case.officer_id, case.grid_id
        leader = self.router.leader(grid) if grid else None
        label = self._label(site.site_id)
        label_zh = label.label_zh if label is not None else site.name_zh
        payload = {
            "event": event,
            "alert_id": alert["alert_id"],
            "case_id": alert["case_id"],
            "rule_id": rule.rule_id,
            "rule_family": rule.family,
            "rule_name_zh": rule.name_zh,
            "rule_name_en": rule.name_en,
            "severity": rule.severity,
            "site_id": site.site_id,
            "site_name_zh": site.name_zh,
            "site_name_en": site.name_en,
            "parameter": alert["parameter"],
            "state": alert["state"],
            "first_period": alert["first_period"],
            "last_period": alert["last_period"],
            "resolved_period": alert["resolved_period"],
            "max_value": alert["max_value"],
            "limit_value": alert["limit_value"],
            "unit": alert["unit"],
            "max_multiple": alert["max_multiple"],
            "periods_exceeded": alert["periods_exceeded"],
            "hours_exceeded": alert["hours_exceeded"],
            "grid_id": grid,
            "officer_id": officer,
            "message": alert["message"],
            **naming(label, self.people.get(officer or ""), self.people.get(leader or "")),
            **local_times(
                {
                    "at": at,
                    "first_period": alert["first_period"],
                    "last_period": alert["last_period"],
                    "resolved_period": alert["resolved_period"],
                },
                self._zone(site.site_id),
            ),
        }
        event_label = {
            "alert_firing": "告警",
            "alert_repeat": "告警(重复)",
            "alert_resolved": "告警解除",
            "case_opened": "立案",
        }.get(event, event)
        subject = (
            f"[envmon {rule.severity}] {event_label} {label_zh} {rule.name_zh} ({alert['alert_id']})"
        )
        notice = Notice(
            event=event,
            severity=rule.severity,
            at=at,
            subject=subject,
            payload=payload,
            alert_id=alert["alert_id"],
            case_id=alert["case_id"],
            officer_id=officer,
            leader_id=leader,
        )
        self.outbox += plan(notice, self.notifications, self.emails_of)
