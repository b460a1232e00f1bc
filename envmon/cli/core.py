"""Core commands: init, registry load, load, status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job, status_job

console = Console()
registry_app = typer.Typer(help="The registry of sites, enterprises, outlets and grids.", no_args_is_help=True)


def init() -> None:
    """Create the state folders and the warehouse; apply pending migrations."""
    applied = init_warehouse()
    console.print(f"warehouse ready; migrations applied: {', '.join(applied) or 'none pending'}")


@registry_app.command("load")
def registry_load() -> None:
    """Validate config/registry/*.yaml and load it into the warehouse (no-op when unchanged)."""
    registry, result = load_registry_job()
    if not result.changed:
        console.print(f"registry unchanged ({len(registry.site_ids)} sites, config {result.config_hash[:12]})")
        return
    console.print(f"registry loaded: {len(registry.site_ids)} sites, {len(registry.enterprises)} enterprises, "
                  f"{len(registry.grids)} grids (config {result.config_hash[:12]})")
    for change in result.changes:
        if change.added or change.removed:
            console.print(f"  {change.table}: +{change.added} -{change.removed}")


def load() -> None:
    """Load every new landing batch into the warehouse (idempotent)."""
    report = load_landing_job()
    console.print(
        f"loaded {len(report.loaded)} batches: {report.rows_inserted} readings inserted, "
        f"{report.rows_duplicate} duplicates collapsed, {report.rows_conflict} conflicts recorded; "
        f"{report.dead_letters} dead letters in {report.dead_letter_batches} batches; "
        f"{len(report.quarantined)} batches quarantined; {report.already_loaded} already loaded"
    )
    for relpath, reason in report.quarantined:
        console.print(f"  quarantined {relpath}: {reason}", style="red")


def status(
    at: Annotated[datetime | None, typer.Option(help="evaluate as of this time (ISO 8601); default now")] = None,
) -> None:
    """Per site: last reading, readings today, gaps over the last 24 hours; dead letters waiting."""
    report = status_job(at=at)
    table = Table(title=f"envmon status at {report.at:%Y-%m-%d %H:%M} UTC")
    for col in ("site", "kind", "名称", "last period (UTC)", "today", "missing 24h"):
        table.add_column(col)
    for s in report.sites:
        last = f"{s.last_period_start:%Y-%m-%d %H:%M}" if s.last_period_start else "—"
        missing = f"{s.missing_last_24h}/{s.expected_last_24h}" if s.expected_last_24h else "—"
        table.add_row(s.site_id, s.kind, s.name_zh, last, str(s.readings_today), missing)
    console.print(table)
    waiting = ", ".join(f"{k}: {v}" for k, v in report.dead_letters_waiting.items()) or "none"
    console.print(f"readings: {report.readings_total}; conflicts recorded: {report.conflicts}; "
                  f"dead letters waiting: {waiting}; quarantined batches: {report.quarantined_batches}")


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.add_typer(registry_app, name="registry")
    app.command()(load)
    app.command()(status)
