"""Alert commands: `envmon alerts list|ack|silence|maintenance|unsilence|evaluate|escalate|send|
outbox` (the case commands are in envmon.cli.cases)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import EnvmonError
from core.periods import from_local_input, has_ended, local_text
from core.settings import get_settings

console = Console()
alerts_app = typer.Typer(
    help="Exceedance and data alerts: list, acknowledge, silence, evaluate rules.",
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


def now() -> datetime:
    """Now, read once at a command's boundary (tests replace it)."""
    return datetime.now(UTC)


def fmt(value: object) -> str:
    """A value as a table cell: times in the configured zone to the minute, others as text."""
    from alerts.queries import as_text
    from core.periods import from_stored

    if isinstance(value, datetime):  # a naive value from the warehouse is UTC, never machine time
        return from_stored(value).astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")
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
    from warehouse.db import connect

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
            fmt(r["first_period"]),
            fmt(r["last_period"]),
            fmt(r["max_value"]),
            fmt(r["limit_value"]),
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
    from warehouse.db import connect, transaction

    with connect(purpose="envmon alerts ack") as con, transaction(con):
        acknowledge(con, alert_id, by=by, at=now())
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

    at, tz = now(), get_settings().tz
    from warehouse.db import connect, transaction

    with connect(purpose=f"envmon alerts {kind}") as con, transaction(con):
        known = set(load_ruleset(None, con).by_id)
        sid = add_silence(
            con,
            kind=kind,
            site_id=site,
            rule_id=rule,
            parameter=parameter,
            starts_at=from_local_input(start, tz) if start is not None else at,
            ends_at=from_local_input(until, tz),
            reason=reason,
            by=by,
            at=at,
            known_rules=known,
        )
    console.print(
        f"{sid}: {kind} {site or '(every site)'} {rule or '(every rule)'} {parameter or ''} until {fmt(from_local_input(until, tz))}"
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
    from warehouse.db import connect, transaction

    with connect(purpose="envmon alerts unsilence") as con, transaction(con):
        revoke_silence(con, silence_id, by=by, at=now())
    console.print(f"{silence_id} revoked by {by}")


@alerts_app.command("evaluate")
def alerts_evaluate(
    start: Annotated[datetime, typer.Option("--from", formats=TIME_FORMATS)],
    end: Annotated[datetime, typer.Option("--to", formats=TIME_FORMATS, help="excluded")],
) -> None:
    """Evaluate every rule over the periods ending in [FROM, TO) (idempotent)."""
    from alerts.jobs import evaluate_rules

    tz = get_settings().tz
    r = evaluate_rules(None, from_local_input(start, tz), from_local_input(end, tz))
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

    tz, current = get_settings().tz, now()
    when = from_local_input(at, tz) if at is not None else current
    if not has_ended(when, current):
        raise EnvmonError(f"--at {local_text(when, tz)} is later than now ({local_text(current, tz)}): "
                          "cases are escalated as of a time that has come")
    r = escalate_overdue(None, when)
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
    from notify.outbox import list_messages, requeue_failed
    from warehouse.db import connect, transaction

    if retry_failed:
        with connect(purpose="envmon alerts outbox") as con, transaction(con):
            n = requeue_failed(con, now())
        console.print(f"{n} failed message(s) queued again")
        return
    with connect(write=False, purpose="envmon alerts outbox") as con:
        rows = list_messages(con, status)
    table = Table(title=f"{len(rows)} message(s)")
    for col in ("id", "event", "channel", "recipient", "status", "attempts", "last error"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(fmt(v) for v in r))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
