"""Case commands: `envmon cases list|show|assign|move|note|reopen|export`.

Every command acts as a person of the registry (`--by`, default the person the login is mapped
to) at a time (`--at`, local, default now, never later than now), so a past scenario can be
replayed with the times it happened. Who may do what is checked in alerts.cases. Times are
read and shown in the settings' time zone."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import EnvmonError
from core.periods import local_minute
from core.settings import get_settings
from envmon.cli.acting import TIME_FORMATS, At, By, action_time, actor

console = Console()
cases_app = typer.Typer(
    help="Inspection cases: list, show, assign, move through the workflow, note, reopen, export. "
    "Case ids: the whole id or a unique start of it.",
    no_args_is_help=True,
)

Note = Annotated[str | None, typer.Option("--note", help="what was done or found")]
STATE_HELP = ("a state id or its Chinese label: open 待派发, assigned 已派发, under_inspection 核查中, "
              "rectification_ordered 整改中, verified 已核实, closed 已销号, dismissed 已撤销")
DEADLINE_HELP = (
    "rectification deadline, local time: a date (2026-12-05) means BY THE END of that day "
    "(2026-12-05 24:00 = 2026-12-06 00:00 local; 整改期限 12月5日 is through the 5th); "
    "a date with a time (2026-12-05 17:00) is that instant"
)


def fmt(value: Any) -> str:
    """A table cell: a time local to the minute with its offset; others as text."""
    from alerts.queries import as_text

    if isinstance(value, datetime):
        return local_minute(value, get_settings().tz)
    return as_text(value)


def _short(value: Any) -> str:
    """A time in a list where the title names the zone: local, to the minute, no offset."""
    if isinstance(value, datetime):
        return local_minute(value, get_settings().tz)[:16]
    return "" if value is None else str(value)


def parse_deadline(text: str | None) -> date | datetime | None:
    """A bare date (the end of that local day: alerts.cases reads a date so) or a local time."""
    if text is None:
        return None
    typed = text.strip()
    if len(typed) == 10:
        try:
            return date.fromisoformat(typed)
        except ValueError:
            pass
    return _time(typed)


def _time(typed: str) -> datetime:
    for pattern in TIME_FORMATS[1:]:
        try:
            return datetime.strptime(typed, pattern)
        except ValueError:
            continue
    raise EnvmonError(f"--deadline {typed!r} is neither a date (2026-12-05) nor a local time "
                      "(2026-12-05 17:00)")


def _person_text(zh: str | None, en: str | None, pid: str | None, phone: str | None = None) -> str:
    if pid is None:
        return "(nobody)"
    name = " ".join(n for n in (zh, en) if n)
    extra = f", {phone}" if phone else ""
    return f"{name} ({pid}{extra})" if name else pid


@cases_app.command("list")
def cases_list(
    state: Annotated[str | None, typer.Option("--state", help=STATE_HELP)] = None,
    grid: Annotated[str | None, typer.Option("--grid", help="grid id or its Chinese/English name")] = None,
    officer: Annotated[str | None, typer.Option("--officer", help="officer id or name")] = None,
) -> None:
    """Cases, newest first: whole ids, the enterprise and outlet, the officer by name."""
    from alerts.queries import list_cases
    from warehouse.db import connect

    with connect(write=False, purpose="envmon cases list") as con:
        rows = list_cases(con, state=state, grid_id=grid, officer_id=officer)
    tz = get_settings().tz
    table = Table(title=f"{len(rows)} case(s) (times {tz})")
    table.add_column("case", no_wrap=True)  # whole ids, never wrapped; names wrap instead
    for col in ("state", "enterprise / site", "officer", "opened", "max ×"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["case_id"],
            r["state_label"],
            f"{r['site_label_zh']} · {r['rule_family']}",
            r["officer_name_zh"] or r["officer_id"] or "",
            _short(r["opened_at"]),
            f"{r['max_multiple']:.2f}" if r["max_multiple"] else "",
        )
    console.print(table)


@cases_app.command("show")
def cases_show(case_id: Annotated[str, typer.Argument(help="case id or a unique start of it")]) -> None:
    """One case: who and where (enterprise, outlet, grid, officer), its times in local time, the
    continuing-exceedance days after the rectification order (按日连续处罚), its history,
    alerts, evidence and the readings around the exceedance."""
    from alerts.cases import deadline_text
    from alerts.queries import case_file
    from warehouse.db import connect

    with connect(write=False, purpose="envmon cases show") as con:
        f = case_file(con, case_id)
    tz = get_settings().tz
    c = f["case"]
    console.print(f"[bold]{c['case_id']}[/bold] {c['title']}")
    lines = [
        ("state", c["state_label"]),
        ("enterprise", f"{c['enterprise_name_zh']} {c['enterprise_name_en']}"
         f" (credit code {c['credit_code'] or '-'}; {c['enterprise_address'] or 'no address'})"
         if c["enterprise_id"] else ""),
        ("site", f"{c['site_name_zh']} {c['site_name_en']} ({c['site_id']})"),
        ("rule", " / ".join(str(v) for v in (c["rule_family"], c["parameter"], c["severity"]) if v)),
        ("grid", f"{c['grid_name_zh']} {c['grid_name_en']} ({c['grid_id']}; {c['routed_by']})"),
        ("officer", _person_text(c["officer_name_zh"], c["officer_name_en"], c["officer_id"], c["officer_phone"])),
        ("opened", fmt(c["opened_at"])),
        ("rectification ordered", fmt(c["rectification_ordered_at"])),
        ("deadline", deadline_text(c["deadline"], tz)),
        ("closed", fmt(c["closed_at"])),
        ("dismissed, reason", c["dismissed_reason"] or ""),
        ("escalated to", f"{_person_text(c['escalated_to_name_zh'], c['escalated_to_name_en'], c['escalated_to'])}"
         f" at {fmt(c['escalated_at'])}" if c["escalated_to"] else ""),
        ("exceeded", f"{c['periods_exceeded']} period(s), {fmt(c['hours_exceeded'])} h, max × "
         + (f"{c['max_multiple']:.2f}" if c["max_multiple"] else "-")),
        ("continuing days after the order (按日连续处罚)",
         f"{c['continuing_days']}" + (" (" + ", ".join(str(d["local_date"]) for d in f["continuing_days"]) + ")"
                                      if f["continuing_days"] else "")),
        ("reopened", f"{c['reopened']} time(s)" if c["reopened"] else ""),
    ]
    for key, value in lines:
        if value:
            console.print(f"  {key}: {value}")
    events = Table(title=f"events (times {tz})")
    for col in ("seq", "time", "by", "action", "state", "note"):
        events.add_column(col, no_wrap=col in ("seq", "time"))
    for e in f["events"]:
        moved = (f"{e['from_label']} → {e['to_label']}".strip()
                 if e["to_state"] and e["to_state"] != e["from_state"] else "")
        events.add_row(str(e["seq"]), fmt(e["event_at"]), e["actor_label"], e["action"], moved, e["note"] or "")
    console.print(events)
    for name, cols in (
        ("alerts", ("alert_id", "rule_id", "parameter", "state", "first_period", "last_period", "max_value",
                    "limit_value", "unit", "max_multiple")),
        ("evidence", ("parameter", "period_start", "value", "limit_value", "unit", "multiple", "exceeded", "detail")),
        ("readings", ("parameter", "period_start", "interval_s", "source_kind", "value", "unit", "flag")),
        ("continuing_days", ("local_date", "periods_exceeded", "hours_exceeded", "max_multiple")),
    ):
        table = Table(title=name)
        for col in cols:
            table.add_column(col, no_wrap=col == "alert_id")
        for row in f[name]:
            table.add_row(*(fmt(row[col]) for col in cols))
        console.print(table)


def _done(case_id: str, what: str, person: Any, at: datetime, seq: int) -> str:
    return f"{case_id}: {what} by {person.name} at {local_minute(at, get_settings().tz)} (event {seq})"


@cases_app.command("assign")
def cases_assign(
    case_id: Annotated[str, typer.Argument(help="case id or a unique start of it")],
    to: Annotated[str, typer.Option("--to", help="the officer: id, Chinese or English name")],
    by: By = None,
    at: At = None,
    note: Note = None,
) -> None:
    """Assign a case to an officer of its grid or a grid above it (open → assigned)."""
    from alerts.cases import assign, person_label, resolve_case_id
    from warehouse.db import connect, transaction

    person, when = actor(by), action_time(at)
    with connect(purpose="envmon cases assign") as con, transaction(con):
        case_id = resolve_case_id(con, case_id)
        seq = assign(con, case_id, to, by=person, at=when, note=note)
        (officer_id,) = con.execute("SELECT officer_id FROM cases WHERE case_id = ?", [case_id]).fetchone()
        officer = person_label(con, officer_id)
    console.print(_done(case_id, f"assigned to {officer}", person, when, seq))


@cases_app.command("move")
def cases_move(
    case_id: Annotated[str, typer.Argument(help="case id or a unique start of it")],
    to: Annotated[str, typer.Option("--to", help="the new state: " + STATE_HELP)],
    by: By = None,
    at: At = None,
    note: Note = None,
    deadline: Annotated[str | None, typer.Option("--deadline", help=DEADLINE_HELP)] = None,
) -> None:
    """Move a case along the workflow: open → assigned → under_inspection → rectification_ordered
    (--deadline) → verified → closed (销号: a leader of the case's grid or a grid above it, with
    --note), or dismissed (撤销: a leader too, --note with the reason). Officers of the case's
    grid tree move it; bureau staff may only add notes."""
    from alerts.cases import deadline_text, move, resolve_case_id, state_label
    from warehouse.db import connect, transaction

    person, when = actor(by), action_time(at)
    with connect(purpose="envmon cases move") as con, transaction(con):
        case_id = resolve_case_id(con, case_id)
        seq = move(con, case_id, to, by=person, at=when, note=note, deadline=parse_deadline(deadline))
        state, due = con.execute("SELECT state, deadline FROM cases WHERE case_id = ?", [case_id]).fetchone()
    text = f"now {state_label(state)}" + (f", deadline {deadline_text(due, get_settings().tz)}" if deadline else "")
    console.print(_done(case_id, text, person, when, seq))


@cases_app.command("note")
def cases_note(
    case_id: Annotated[str, typer.Argument(help="case id or a unique start of it")],
    note: Annotated[str, typer.Option("--note")],
    by: By = None,
    at: At = None,
) -> None:
    """Add a note to a case's record (anyone in the registry, bureau staff included)."""
    from alerts.cases import add_note, resolve_case_id
    from warehouse.db import connect, transaction

    person, when = actor(by), action_time(at)
    with connect(purpose="envmon cases note") as con, transaction(con):
        case_id = resolve_case_id(con, case_id)
        seq = add_note(con, case_id, note, by=person, at=when)
    console.print(_done(case_id, "note added", person, when, seq))


@cases_app.command("reopen")
def cases_reopen(
    case_id: Annotated[str, typer.Argument(help="case id or a unique start of it")],
    note: Annotated[str, typer.Option("--note", help="why: e.g. the exceedance recurred")],
    by: By = None,
    at: At = None,
) -> None:
    """Reopen a closed (已销号) case within reopen_days of its closure (config/rules/calendar.yaml
    cases:), history kept: it goes back to assigned (open if it has no officer). After that a
    recurrence opens a new case; a dismissed case is not reopened. The evaluation reopens a
    closed case by itself when its exceedance recurs within the period."""
    from alerts.cases import reopen, resolve_case_id, state_label
    from warehouse.db import connect, transaction

    person, when = actor(by), action_time(at)
    with connect(purpose="envmon cases reopen") as con, transaction(con):
        case_id = resolve_case_id(con, case_id)
        seq = reopen(con, case_id, by=person, at=when, note=note)
        (state,) = con.execute("SELECT state FROM cases WHERE case_id = ?", [case_id]).fetchone()
    console.print(_done(case_id, f"reopened, now {state_label(state)}", person, when, seq))


@cases_app.command("export")
def cases_export(
    out: Annotated[Path, typer.Option("--out", help="a .xlsx or .csv file")],
    state: Annotated[str | None, typer.Option("--state", help=STATE_HELP)] = None,
    grid: Annotated[str | None, typer.Option("--grid", help="grid id or its Chinese/English name")] = None,
) -> None:
    """Export cases to XLSX (cases and events sheets) or CSV: bilingual headers, the enterprise,
    outlet, grid and officer named, times in local time (the zone in the header)."""
    from alerts.staff import export_cases
    from warehouse.db import connect

    with connect(write=False, purpose="envmon cases export") as con:
        n = export_cases(con, out, state=state, grid_id=grid)
    console.print(f"{n} case(s) written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
