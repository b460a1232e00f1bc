"""Case commands: `envmon cases list|show|assign|move|note|export`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.periods import from_local_input
from core.settings import get_settings
from envmon.cli.alerts import TIME_FORMATS, By, Note, fmt, now

console = Console()
cases_app = typer.Typer(
    help="Inspection cases: list, show, assign, move through the workflow, note, export.",
    no_args_is_help=True,
)


@cases_app.command("list")
def cases_list(
    state: Annotated[str | None, typer.Option("--state")] = None,
    grid: Annotated[str | None, typer.Option("--grid")] = None,
    officer: Annotated[str | None, typer.Option("--officer")] = None,
) -> None:
    """Cases, newest first."""
    from alerts.queries import list_cases
    from warehouse.db import connect

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
            fmt(r["opened_at"]),
            fmt(r["deadline"]),
            str(r["alerts"]),
            fmt(r["hours_exceeded"]),
            f"{r['max_multiple']:.2f}" if r["max_multiple"] else "",
        )
    console.print(table)


@cases_app.command("show")
def cases_show(case_id: str) -> None:
    """One case: details, events, alerts, evidence and the readings around the exceedance."""
    from alerts.queries import case_file
    from warehouse.db import connect

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
        console.print(f"  {key}: {fmt(c[key])}")
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
            table.add_row(*(fmt(row[col]) for col in cols))
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
    from warehouse.db import connect, transaction

    with connect(purpose="envmon cases assign") as con, transaction(con):
        seq = assign(con, case_id, to, by=by, at=now(), note=note)
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

    tz = get_settings().tz
    from warehouse.db import connect, transaction

    with connect(purpose="envmon cases move") as con, transaction(con):
        seq = move(
            con,
            case_id,
            to,
            by=by,
            at=now(),
            note=note,
            deadline=from_local_input(deadline, tz) if deadline is not None else None,
        )
    console.print(f"{case_id}: now {to} (event {seq})")


@cases_app.command("note")
def cases_note(case_id: str, by: By, note: Annotated[str, typer.Option("--note")]) -> None:
    """Add a note to a case's record."""
    from alerts.cases import add_note
    from warehouse.db import connect, transaction

    with connect(purpose="envmon cases note") as con, transaction(con):
        seq = add_note(con, case_id, note, by=by, at=now())
    console.print(f"{case_id}: note added (event {seq})")


@cases_app.command("export")
def cases_export(
    out: Annotated[Path, typer.Option("--out", help="a .xlsx or .csv file")],
    state: Annotated[str | None, typer.Option("--state")] = None,
    grid: Annotated[str | None, typer.Option("--grid")] = None,
) -> None:
    """Export cases to XLSX (cases and events sheets) or CSV."""
    from alerts.staff import export_cases
    from warehouse.db import connect

    with connect(write=False, purpose="envmon cases export") as con:
        n = export_cases(con, out, state=state, grid_id=grid)
    console.print(f"{n} case(s) written to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
