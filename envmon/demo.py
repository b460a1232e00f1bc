"""The demo pipeline: every stage of envmon on embedded defaults, ending with a summary.

Stages that later parts of the system provide (brokers, servers, DAGs, reports) join here as
they land; each stage prints what it did so a new user can follow the data.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

from rich.console import Console

from envmon.settings import get_settings, reset_settings_cache
from ingest.generator import generate_day
from ingest.landing import LandingZone
from transforms.qc.gx_suite import validate_batches
from transforms.qc.run import run_qc
from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job, status_job

console = Console()


def demo_days(days: int, today: date | None = None) -> list[date]:
    """The last `days` whole local days before today."""
    today = today or datetime.now(get_settings().tz).date()
    return [today - timedelta(days=n) for n in range(days, 0, -1)]


def run_demo(home: str | None = None, days: int = 1) -> None:
    if home:
        os.environ["ENVMON_HOME"] = home
        reset_settings_cache()
    settings = get_settings()
    started = time.monotonic()
    console.rule("envmon demo")
    console.print(f"state folder: {settings.home}")

    applied = init_warehouse(settings)
    console.print(f"[1] warehouse {settings.warehouse_path}: migrations applied: {', '.join(applied) or 'none pending'}")

    registry, result = load_registry_job(settings)
    console.print(
        f"[2] registry: {len(registry.stations)} stations, {len(registry.enterprises)} enterprises with "
        f"{len(registry.outlets)} outlets, {len(registry.grids)} grids "
        f"({'loaded' if result.changed else 'unchanged'})"
    )

    landing = LandingZone(settings.landing_root)
    written = 0
    for n, day in enumerate(demo_days(days)):
        table = generate_day(registry, day, seed=n)
        ref = landing.write_readings(table, "sim")
        written += ref.rows
    console.print(f"[3] simulated {written} readings for {days} day(s) into the landing zone {settings.landing_root}")

    report = load_landing_job(settings)
    console.print(
        f"[4] loaded {len(report.loaded)} batch(es): {report.rows_inserted} inserted, "
        f"{report.rows_duplicate} duplicates, {report.rows_conflict} conflicts, "
        f"{len(report.quarantined)} quarantined"
    )

    validations = validate_batches(settings)
    day_list = demo_days(days)
    qc = run_qc(settings, day_list[0], day_list[-1])
    console.print(
        f"[5] QC: {len(validations)} batch(es) validated with Great Expectations; "
        f"{qc.readings} readings checked, {qc.flags} flags raised (config {qc.config_hash[:12]})"
    )

    status = status_job(settings, at=datetime.now(UTC))
    by_kind: dict[str, int] = {}
    for site in status.sites:
        if site.last_period_start is not None:
            by_kind[site.kind] = by_kind.get(site.kind, 0) + 1
    console.rule("summary")
    console.print(f"readings in the warehouse: {status.readings_total}")
    console.print("sites reporting: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())))
    console.print(f"dead letters waiting: {sum(status.dead_letters_waiting.values())}; "
                  f"conflicts recorded: {status.conflicts}")
    console.print(f"done in {time.monotonic() - started:.1f} s")
