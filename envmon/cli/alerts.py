"""Alert commands: `envmon alerts list|ack|silence|maintenance|unsilence|evaluate|escalate|send|
outbox` (the case commands are in envmon.cli.cases)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from core.errors import EnvmonError
from core.periods import from_local_input, has_ended, local_minute, local_text, require_ended
from core.settings import get_settings
from envmon.cli import acting
from envmon.cli.acting import TIME_FORMATS, By, actor

__all__ = ["TIME_FORMATS", "By", "Note", "alerts_app", "fmt", "now", "register"]  # cli.cases imports some

console = Console()
alerts_app = typer.Typer(
    help="Exceedance and data alerts: list, acknowledge, silence, evaluate rules.",
    no_args_is_help=True,
)

Note = Annotated[str | None, typer.Option("--note", help="what and why")]


def now() -> datetime:
    """Now, read once at a command's boundary: envmon.cli.acting.now (tests replace either)."""
    return acting.now()


def local(ts: datetime | None) -> str:
    """An instant in a sentence: local time to the minute with its offset."""
    return local_minute(ts, get_settings().tz)


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
    site: Annotated[str | None, typer.Option("--site", help="site id or name (中文名)")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="rule id")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 200,
    with_alarms: Annotated[
        bool,
        typer.Option(
            "--with-alarms",
            help="also list the outlets' data-logger alarm events (HJ 212 CN 2072), local time",
        ),
    ] = False,
) -> None:
    """Alerts, firing first (times in local time), sites by the name people know them by; whole
    ids (`ack` also takes a unique prefix). --with-alarms adds the data loggers' own alarms of the
    same sites (the --site, or the sites of the alerts listed)."""
    from alerts.jobs import load_ruleset
    from alerts.queries import list_alerts, logger_alarms, site_of
    from warehouse.db import connect

    with connect(write=False, purpose="envmon alerts list") as con:
        known = set(load_ruleset(None, con).by_id) if rule else None
        site_id = site_of(con, site) if site else None
        rows = list_alerts(con, state=state, site_id=site_id, rule_id=rule, limit=limit, known_rules=known)
        alarms = (
            logger_alarms(
                con,
                site_ids=[site_id] if site_id else sorted({r["site_id"] for r in rows}),
                limit=limit,
            )
            if with_alarms
            else None
        )
    tz = get_settings().tz
    table = Table(title=f"{len(rows)} alert(s) (local time, {local_minute(now(), tz)[-6:]})", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    # readable at 80 columns: ids whole (never wrapped), the rest wraps inside its cell
    table.add_column("alert / case", no_wrap=True)
    table.add_column("state × limit / by")
    table.add_column("site / rule", overflow="fold", min_width=20)
    table.add_column("first", no_wrap=True)
    for r in rows:
        who = (f"ack {r['acknowledged_by_name'] or r['acknowledged_by']}" if r["acknowledged_by"]
               else f"silenced {r['silenced_by_name'] or ''} {r['silenced_by']}" if r["silenced_by"] else "")
        table.add_row(
            r["alert_id"] + (f"\n{r['case_id']}" if r["case_id"] else ""),
            f"{r['state']} {r['severity']}" + (f" {r['max_multiple']:.2f}×" if r["max_multiple"] else "")
            + (f"\n{who}" if who else ""),
            f"{r['site_label_zh'] or r['site_id']}" + (f" {r['parameter']}" if r["parameter"] else "")
            + f"\n{r['rule_id']}",
            fmt(r["first_period"]).replace(" ", "\n", 1),
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
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="the alert id, or a unique start of it")],
    by: By = None,
) -> None:
    """Acknowledge an alert: it keeps its state, but repeat notifications stop."""
    from alerts.staff import acknowledge
    from warehouse.db import connect, transaction
    from warehouse.ids import resolve_id

    person, at = actor(by), now()
    with connect(purpose="envmon alerts ack") as con, transaction(con):
        whole = resolve_id(con, "alerts", "alert_id", alert_id, "alert", hint="see `envmon alerts list`")
        acknowledge(con, whole, by=person.person_id, at=at)
    console.print(f"{whole} acknowledged by {person.name} at {local(at)}")


def _silence(
    kind: str,
    site: str | None,
    rule: str | None,
    parameter: str | None,
    start: datetime | None,
    until: datetime,
    reason: str,
    by: str | None,
) -> None:
    from alerts.jobs import load_ruleset
    from alerts.queries import site_of
    from alerts.staff import add_silence
    from warehouse.db import connect, transaction

    person, at, tz = actor(by), now(), get_settings().tz
    starts_at = from_local_input(start, tz) if start is not None else at
    ends_at = from_local_input(until, tz)
    with connect(purpose=f"envmon alerts {kind}") as con, transaction(con):
        known = set(load_ruleset(None, con).by_id)
        site_id = site_of(con, site) if site else None
        label = (con.execute("SELECT label_zh FROM v_site_labels WHERE site_id = ?", [site_id]).fetchone()
                 if site_id else None)
        sid = add_silence(
            con,
            kind=kind,
            site_id=site_id,
            rule_id=rule,
            parameter=parameter,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            by=person.person_id,
            at=at,
            known_rules=known,
        )
    where = f"{site_id} {label[0]}" if site_id and label else (site_id or "(every site)")
    console.print(
        f"{sid}: {kind} {where} {rule or '(every rule)'}{' ' + parameter if parameter else ''} "
        f"from {local_minute(starts_at, tz)} until {local_minute(ends_at, tz)}, by {person.name}"
    )


Until = Annotated[
    datetime,
    typer.Option(
        "--until", formats=TIME_FORMATS, help="expiry (local time unless an offset is given)"
    ),
]
Start = Annotated[
    datetime | None,
    typer.Option("--from", formats=TIME_FORMATS, help="start, local time (default now)"),
]
Reason = Annotated[str, typer.Option("--reason", help="why (required)")]


@alerts_app.command("silence")
def alerts_silence(
    until: Until,
    reason: Reason,
    by: By = None,
    site: Annotated[str | None, typer.Option("--site", help="site id or name")] = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    parameter: Annotated[str | None, typer.Option("--parameter")] = None,
    start: Start = None,
) -> None:
    """Silence alerts (still recorded; no notification, no case) until the expiry."""
    _silence("silence", site, rule, parameter, start, until, reason, by)


@alerts_app.command("maintenance")
def alerts_maintenance(
    site: Annotated[str, typer.Option("--site", help="site id or name")],
    until: Until,
    reason: Reason,
    by: By = None,
    rule: Annotated[str | None, typer.Option("--rule")] = None,
    parameter: Annotated[str | None, typer.Option("--parameter")] = None,
    start: Start = None,
) -> None:
    """Declare a maintenance window: the site's periods inside it are not evaluated."""
    _silence("maintenance", site, rule, parameter, start, until, reason, by)


@alerts_app.command("unsilence")
def alerts_unsilence(
    silence_id: Annotated[str, typer.Argument(help="the silence / maintenance id, or a unique start of it")],
    by: By = None,
) -> None:
    """Revoke a silence or maintenance window before its expiry."""
    from alerts.staff import revoke_silence
    from warehouse.db import connect, transaction
    from warehouse.ids import resolve_id

    person, at = actor(by), now()
    with connect(purpose="envmon alerts unsilence") as con, transaction(con):
        whole = resolve_id(con, "silences", "silence_id", silence_id, "silence or maintenance window")
        revoke_silence(con, whole, by=person.person_id, at=at)
    console.print(f"{whole} revoked by {person.name} at {local(at)}")


@alerts_app.command("evaluate")
def alerts_evaluate(
    start: Annotated[datetime, typer.Option("--from", formats=TIME_FORMATS, help="local time")],
    end: Annotated[
        datetime,
        typer.Option("--to", formats=TIME_FORMATS, help="excluded; local time; not later than now"),
    ],
) -> None:
    """Evaluate every rule over the periods ending in [FROM, TO) (idempotent); a range that has
    not ended yet is refused."""
    from alerts.jobs import evaluate_rules

    tz, current = get_settings().tz, now()
    lo, hi = from_local_input(start, tz), from_local_input(end, tz)
    require_ended(lo, hi, current, "the range --from/--to", tz,
                  hint="evaluate periods that have ended (give an earlier --to)")
    r = evaluate_rules(None, lo, hi)
    console.print(
        f"{r.rules_evaluated} rules, {r.periods_evaluated} periods: {len(r.alerts_opened)} alerts opened, "
        f"{len(r.alerts_resolved)} resolved, {len(r.cases_opened)} cases opened, "
        f"{r.notifications_queued} notifications queued"
    )


@alerts_app.command("escalate")
def alerts_escalate(
    at: Annotated[
        datetime | None,
        typer.Option("--at", formats=TIME_FORMATS, help="as of (local time; default now; not later than now)"),
    ] = None,
) -> None:
    """Escalate overdue cases to the grid leader; recount continuing-exceedance days."""
    from alerts.jobs import escalate_overdue

    tz, current = get_settings().tz, now()
    when = from_local_input(at, tz) if at is not None else current
    if not has_ended(when, current):
        raise EnvmonError(f"--at {local_text(when, tz)} is later than now ({local_text(current, tz)}): "
                          "cases are escalated as of a time that has come")
    r = escalate_overdue(None, when)
    console.print(f"as of {local_minute(when, tz)}:")
    for case_id, leader in r.escalated:
        site = r.site_labels.get(case_id)
        to = f"{r.leader_names.get(leader, leader)} ({leader})" if leader else "(no leader up the grid tree)"
        console.print(f"{case_id}{' ' + site if site else ''}: escalated to {to}")
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
