"""Alert and case commands: `envmon alerts list|ack|silence|maintenance|unsilence|evaluate|
escalate|send|outbox` and `envmon cases list|show|assign|move|note|export`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.settings import get_settings
from warehouse.db import connect, transaction

console = Console()
alerts_app = typer.Typer(
    help="Exceedance and data alerts: list, acknowledge, silence, evaluate rules.",
    no_args_is_help=True,
)
cases_app = typer.Typer(
    help="Inspection cases: list, show, assign, move through the workflow, note, export.",
    no_args_is_help=True,
)

By = Annotated[str, typer.Option("--by", help="who acts (staff or officer id)")]
Note = Annotated[str | None, typer.Option("--note", help="what and why")]
TIME_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M%z",
]


def _aware(value: datetime | None) -> datetime | None:
    """A time given without an offset is local time of the configured zone."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=get_settings().tz)).astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(value: object) -> str:
    from alerts.queries import as_text

    if isinstance(value, datetime):
        return value.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")
    return as_text(value)


# ---------------------------------------------------------------------------- alerts
@alerts_app.command("list")
def alerts_list(
    state: Annotated[str | None, typer.Option("--state", help="firing | resolved")] = None,
    site: Annotated[str | None, typer.Option("--site")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 200,
    with_alarms: Annotated[
        bool,
        typer.Option(
            "--with-alarms",
            help="also list the outlets' data-logger alarm events (HJ 212 CN 2072), local time",
        ),
    ] = False,
) -> None:
    """Alerts, firing first (times in local time); --with-alarms adds the data loggers' own
    alarms of the same sites (the --site, or the sites of the alerts listed)."""
    from alerts.queries import list_alerts, logger_alarms

    with connect(write=False, purpose="envmon alerts list") as con:
        rows = list_alerts(con, state=state, site_id=site, rule_id=rule, limit=limit)
        alarms = (
            logger_alarms(
                con,
                site_ids=[site] if site else sorted({r["site_id"] for r in rows}),
                limit=limit,
            )
            if with_alarms
            else None
        )
    table = Table(title=f"{len(rows)} alert(s)")
    for col in (
        "alert",
        "state",
        "severity",
        "rule",
        "site",
        "parameter",
        "first",
        "last",
        "max",
        "limit",
        "×",
        "case",
        "ack/silence",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["alert_id"],
            r["state"],
            r["severity"],
            r["rule_id"],
            r["site_id"],
            r["parameter"] or "",
            _fmt(r["first_period"]),
            _fmt(r["last_period"]),
            _fmt(r["max_value"]),
            _fmt(r["limit_value"]),
            f"{r['max_multiple']:.2f}" if r["max_multiple"] else "",
            r["case_id"] or "",
            r["acknowledged_by"] or r["silenced_by"] or "",
        )
    console.print(table)
    if alarms is not None:
        console.print(alarms_table(alarms))


def alarms_table(alarms: list[dict]) -> Table:
    """Logger alarm events (数采仪报警事件), times in each site's local time with the offset."""
    from zoneinfo import ZoneInfo

    table = Table(title=f"{len(alarms)} logger alarm(s) 数采仪报警 (HJ 212 CN 2072)")
    for col in ("time (local)", "site", "MN", "parameter", "value", "alarm type", "alerts then"):
        table.add_column(col)
    for a in alarms:
        local = a["event_time"].astimezone(ZoneInfo(a["timezone"]))
        table.add_row(
            local.isoformat(timespec="minutes"),
            f"{a['site_id']} {a['site_name_zh'] or ''} {a['site_name_en'] or ''}".rstrip(),
            a["mn"] or "",
            a["parameter"] or a["code"] or "",
            a["alarm_value"] or "",
            a["alarm_type"] or "",
            a["alerts"] or "",
        )
    return table


@alerts_app.command("ack")
def alerts_ack(alert_id: str, by: By) -> None:
    """Acknowledge an alert: it keeps its state, but repeat notifications stop."""
    from alerts.staff import acknowledge

    with connect(purpose="envmon alerts ack") as con, transaction(con):
        acknowledge(con, alert_id, by=by, at=_now())
    console.print(f"{alert_id} acknowledged by {by}")


def _silence(
    kind: str,
    site: str | None,
    rule: str | None,
    parameter: str | None,
    start: datetime | None,
    until: datetime,
    reason: str,
    by: str,
) -> None:
    from alerts.jobs import load_ruleset
    from alerts.staff import add_silence

    now = _now()
    with connect(purpose=f"envmon alerts {kind}") as con, transaction(con):
        known = set(load_ruleset(None, con).by_id)
        sid = add_silence(
            con,
            kind=kind,
            site_id=site,
            rule_id=rule,
            parameter=parameter,
            starts_at=_aware(start) or now,
            ends_at=_aware(until),
            reason=reason,
            by=by,
            at=now,  # type: ignore[arg-type]
            known_rules=known,
        )
    console.print(
        f"{sid}: {kind} {site or '(every site)'} {rule or '(every rule)'} {parameter or ''} until {_fmt(_aware(until))}"
    )


Until = Annotated[
    datetime,
    typer.Option(
        "--until", formats=TIME_FORMATS, help="expiry (local time unless an offset is given)"
    ),
]
Start = Annotated[
    datetime | None, typer.Option("--from", formats=TIME_FORMATS, help="start (default now)")
]
Reason = Annotated[str, typer.Option("--reason", help="why (required)")]


@alerts_app.command("silence")
def alerts_silence(
    until: Until,
    reason: Reason,
    by: By,
    site: Annotated[str | None, typer.Option("--site")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    parameter: Annotated[str | None, typer.Option("--parameter")] = None,
    start: Start = None,
) -> None:
    """Silence alerts (still recorded; no notification, no case) until the expiry."""
    _silence("silence", site, rule, parameter, start, until, reason, by)


@alerts_app.command("maintenance")
def alerts_maintenance(
    site: Annotated[str, typer.Option("--site")],
    until: Until,
    reason: Reason,
    by: By,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    parameter: Annotated[str | None, typer.Option("--parameter")] = None,
    start: Start = None,
) -> None:
    """Declare a maintenance window: the site's periods inside it are not evaluated."""
    _silence("maintenance", site, rule, parameter, start, until, reason, by)


@alerts_app.command("unsilence")
def alerts_unsilence(silence_id: str, by: By) -> None:
    """Revoke a silence or maintenance window before its expiry."""
    from alerts.staff import revoke_silence

    with connect(purpose="envmon alerts unsilence") as con, transaction(con):
        revoke_silence(con, silence_id, by=by, at=_now())
    console.print(f"{silence_id} revoked by {by}")


@alerts_app.command("evaluate")
def alerts_evaluate(
    start: Annotated[datetime, typer.Option("--from", formats=TIME_FORMATS)],
    end: Annotated[datetime, typer.Option("--to", formats=TIME_FORMATS, help="excluded")],
) -> None:
    """Evaluate every rule over the periods ending in [FROM, TO) (idempotent)."""
    from alerts.jobs import evaluate_rules

    r = evaluate_rules(None, _aware(start), _aware(end))
    console.print(
        f"{r.rules_evaluated} rules, {r.periods_evaluated} periods: {len(r.alerts_opened)} alerts opened, "
        f"{len(r.alerts_resolved)} resolved, {len(r.cases_opened)} cases opened, "
        f"{r.notifications_queued} notifications queued"
    )


@alerts_app.command("escalate")
def alerts_escalate(
    at: Annotated[datetime | None, typer.Option("--at", formats=TIME_FORMATS)] = None,
) -> None:
    """Escalate overdue cases to the grid leader; recount continuing-exceedance days."""
    from alerts.jobs import escalate_overdue

    r = escalate_overdue(None, _aware(at) or _now())
    for case_id, leader in r.escalated:
        console.print(f"{case_id} escalated to {leader or '(no leader)'}")
    for case_id, days in r.continuing_days.items():
        console.print(
            f"{case_id}: exceedance continued on {days} day(s) after the rectification order"
        )
    console.print(f"{len(r.escalated)} case(s) escalated")


@alerts_app.command("send")
def alerts_send() -> None:
    """Deliver due notifications (email, webhook, log); failures are retried later."""
    from alerts.jobs import send_notifications

    r = send_notifications(None)
    for e in r.errors:
        console.print(e)
    console.print(f"{r.sent} sent, {r.retried} to retry, {r.failed} failed")


@alerts_app.command("outbox")
def alerts_outbox(
    status: Annotated[
        str | None, typer.Option("--status", help="pending | sending | sent | failed")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="queue failed messages again")
    ] = False,
) -> None:
    """The notification outbox."""
    if retry_failed:
        with connect(purpose="envmon alerts outbox") as con, transaction(con):
            n = con.execute(
                "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE status = 'failed'",
                [_now()],
            ).fetchall()
        console.print(f"{n[0][0] if n else 0} failed message(s) queued again")
        return
    with connect(write=False, purpose="envmon alerts outbox") as con:
        rows = con.execute(
            "SELECT notification_id, event, channel_id, recipient, status, attempts, last_error FROM notifications "
            "WHERE ? IS NULL OR status = ? ORDER BY queued_for DESC, notification_id LIMIT 500",
            [status, status],
        ).fetchall()
    table = Table(title=f"{len(rows)} message(s)")
    for col in ("id", "event", "channel", "recipient", "status", "attempts", "last error"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(_fmt(v) for v in r))
    console.print(table)


# ---------------------------------------------------------------------------- cases
@cases_app.command("list")
def cases_list(
    state: Annotated[str | None, typer.Option("--state")] = None,
    grid: Annotated[str | None, typer.Option("--grid")] = None,
    officer: Annotated[str | None, typer.Option("--officer")] = None,
) -> None:
    """Cases, newest first."""
    from alerts.queries import list_cases

    with connect(write=False, purpose="envmon cases list") as con:
        rows = list_cases(con, state=state, grid_id=grid, officer_id=officer)
    table = Table(title=f"{len(rows)} case(s)")
    for col in (
        "case",
        "state",
        "site",
        "family",
        "grid",
        "officer",
        "opened",
        "deadline",
        "alerts",
        "h exceeded",
        "max ×",
    ):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["case_id"],
            r["state"],
            f"{r['site_id']} {r['site_name_zh']}",
            r["rule_family"],
            f"{r['grid_id']} {r['grid_name_zh'] or ''}",
            r["officer_id"] or "",
            _fmt(r["opened_at"]),
            _fmt(r["deadline"]),
            str(r["alerts"]),
            _fmt(r["hours_exceeded"]),
            f"{r['max_multiple']:.2f}" if r["max_multiple"] else "",
        )
    console.print(table)


@cases_app.command("show")
def cases_show(case_id: str) -> None:
    """One case: details, events, alerts, evidence and the readings around the exceedance."""
    from alerts.queries import case_file

    with connect(write=False, purpose="envmon cases show") as con:
        f = case_file(con, case_id)
    c = f["case"]
    console.print(f"[bold]{c['case_id']}[/bold] {c['title']}")
    for key in (
        "state",
        "site_id",
        "rule_family",
        "parameter",
        "severity",
        "grid_id",
        "officer_id",
        "routed_by",
        "opened_at",
        "deadline",
        "rectification_ordered_at",
        "closed_at",
        "dismissed_reason",
        "escalated_to",
        "periods_exceeded",
        "hours_exceeded",
        "max_multiple",
        "continuing_days",
    ):
        console.print(f"  {key}: {_fmt(c[key])}")
    for name, cols in (
        ("events", ("seq", "event_at", "actor", "action", "from_state", "to_state", "note")),
        (
            "alerts",
            (
                "alert_id",
                "rule_id",
                "parameter",
                "state",
                "first_period",
                "last_period",
                "max_value",
                "limit_value",
                "unit",
                "max_multiple",
            ),
        ),
        (
            "evidence",
            (
                "parameter",
                "period_start",
                "value",
                "limit_value",
                "unit",
                "multiple",
                "exceeded",
                "detail",
            ),
        ),
        (
            "readings",
            ("parameter", "period_start", "interval_s", "source_kind", "value", "unit", "flag"),
        ),
        ("continuing_days", ("local_date", "periods_exceeded", "hours_exceeded", "max_multiple")),
    ):
        table = Table(title=name)
        for col in cols:
            table.add_column(col)
        for row in f[name]:
            table.add_row(*(_fmt(row[col]) for col in cols))
        console.print(table)


@cases_app.command("assign")
def cases_assign(
    case_id: str,
    to: Annotated[str, typer.Option("--to", help="officer id")],
    by: By,
    note: Note = None,
) -> None:
    """Assign a case to an officer (open → assigned)."""
    from alerts.cases import assign

    with connect(purpose="envmon cases assign") as con, transaction(con):
        seq = assign(con, case_id, to, by=by, at=_now(), note=note)
    console.print(f"{case_id}: assigned to {to} (event {seq})")


@cases_app.command("move")
def cases_move(
    case_id: str,
    to: Annotated[str, typer.Option("--to", help="the new state")],
    by: By,
    note: Note = None,
    deadline: Annotated[
        datetime | None,
        typer.Option(
            "--deadline", formats=TIME_FORMATS, help="rectification deadline (local time)"
        ),
    ] = None,
) -> None:
    """Move a case along the workflow: open → assigned → under_inspection → rectification_ordered
    (--deadline) → verified → closed, or dismissed (--note with the reason)."""
    from alerts.cases import move

    with connect(purpose="envmon cases move") as con, transaction(con):
        seq = move(con, case_id, to, by=by, at=_now(), note=note, deadline=_aware(deadline))
    console.print(f"{case_id}: now {to} (event {seq})")


@cases_app.command("note")
def cases_note(case_id: str, by: By, note: Annotated[str, typer.Option("--note")]) -> None:
    """Add a note to a case's record."""
    from alerts.cases import add_note

    with connect(purpose="envmon cases note") as con, transaction(con):
        seq = add_note(con, case_id, note, by=by, at=_now())
    console.print(f"{case_id}: note added (event {seq})")


@cases_app.command("export")
def cases_export(
    out: Annotated[Path, typer.Option("--out", help="a .xlsx or .csv file")],
    state: Annotated[str | None, typer.Option("--state")] = None,
    grid: Annotated[str | None, typer.Option("--grid")] = None,
) -> None:
    """Export cases to XLSX (cases and events sheets) or CSV."""
    from alerts.staff import export_cases

    with connect(write=False, purpose="envmon cases export") as con:
        n = export_cases(con, out, state=state, grid_id=grid)
    console.print(f"{n} case(s) written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(cases_app, name="cases")
