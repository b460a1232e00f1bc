"""Core commands: init, registry load|enrol (show|validate: envmon.cli.registry), load, status.

The warehouse jobs (DuckDB, pyarrow) are imported inside the commands: `envmon --help` and the
other commands start without them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from core.errors import EnvmonError
from core.settings import get_settings
from envmon.cli import registry as registry_cli

console = Console()
registry_app = typer.Typer(help="The registry of sites, enterprises, outlets and grids.", no_args_is_help=True)


def init() -> None:
    """Create the state folders and the warehouse; apply pending migrations."""
    from warehouse.jobs import init_warehouse

    applied = init_warehouse()
    console.print(f"warehouse ready; migrations applied: {', '.join(applied) or 'none pending'}")


@registry_app.command("load")
def registry_load() -> None:
    """Validate config/registry/*.yaml and load it into the warehouse (no-op when unchanged)."""
    from warehouse.jobs import load_registry_job

    registry, result = load_registry_job()
    if not result.changed:
        console.print(f"registry unchanged ({len(registry.site_ids)} sites, config {result.config_hash[:12]})")
        return
    console.print(f"registry loaded: {len(registry.site_ids)} sites, {len(registry.enterprises)} enterprises, "
                  f"{len(registry.grids)} grids (config {result.config_hash[:12]})")
    for change in result.changes:
        if change.added or change.removed:
            console.print(f"  {change.table}: +{change.added} -{change.removed}")
    for line in registry_cli.permit_warnings(registry, get_settings().config_dir):
        console.print(f"warning: {line}", style="yellow", markup=False, highlight=False)


@registry_app.command("enrol")
def registry_enrol(
    out: Annotated[str, typer.Option("--out", help="folder to write enterprises.enrolled.yaml into")],
    grid: Annotated[str | None, typer.Option(help="grid of the new enterprises (default: the city grid)")] = None,
    traffic: Annotated[list[str] | None, typer.Option(
        help="recorded traffic (gzip ok) to read the loggers' passwords from (dead letters keep none)")] = None,
) -> None:
    """Registry stubs for the loggers not in the registry (from the unknown-MN dead letters):
    an enterprise and outlet per MN with its password, codes and detected habits. Copy the file
    into config/registry/ (enterprises.*.yaml files are read beside enterprises.yaml), correct it,
    then `envmon registry load` and `envmon deadletters retry`."""
    from pathlib import Path

    import yaml

    from core.landing import LandingZone
    from core.registry.config import load_registry
    from core.registry.models import PASSWORD_PLACEHOLDER
    from ingest.hj212.onboarding import (
        enrol_yaml,
        passwords_from_files,
        unknown_loggers,
        unknown_mn_raws,
    )

    settings = get_settings()
    registry = load_registry(settings.config_dir)
    found = unknown_loggers(unknown_mn_raws(LandingZone(settings.landing_root)), registry, settings.tz)
    passwords = passwords_from_files(traffic or [], settings.tz)
    try:
        stubs = enrol_yaml(found, registry, grid, passwords)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--grid") from None
    target = Path(out) / "enterprises.enrolled.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    header = ("# Registry stubs written by `envmon registry enrol` for loggers seen in traffic but not in\n"
              "# the registry. Names, grid and parameters are placeholders: correct them, then copy this\n"
              "# file into config/registry/ and run `envmon registry load`.\n")
    # it holds the loggers' passwords in clear (from --traffic): readable by the owner only (review
    # I18); written under a private name with mode 0600 from the start, then renamed into place
    text = header + yaml.safe_dump(stubs, allow_unicode=True, sort_keys=False)
    from core.durable import write_durably

    tmp = target.with_name(f".{target.name}.tmp")
    write_durably(target, tmp, lambda fh: fh.write(text.encode("utf-8")), mode=0o600)
    unset = sum(1 for e in stubs["enterprises"]
                if e["outlets"][0]["logger"]["password"] == PASSWORD_PLACEHOLDER)  # fmt: skip
    console.print(f"{len(stubs['enterprises'])} loggers enrolled as stubs in {target} (mode 0600)")
    if unset:
        console.print(f"  {unset} logger password(s) unknown (masked in the dead letters), written as "
                      f"{PASSWORD_PLACEHOLDER!r}, which `envmon registry load` refuses: set them, or run "
                      "again with --traffic FILE", style="yellow")


def load() -> None:
    """Load every new landing batch into the warehouse (idempotent).

    Readings load before dead letters; a batch DuckDB cannot load (out of memory, bad schema) is
    moved to quarantine with a reason file and the others load. Landing `.tmp-*` files a crash
    left are removed once older than `landing_tmp_max_age_s`.
    """
    import duckdb

    from warehouse.jobs import load_landing_job

    settings = get_settings()
    try:
        report = load_landing_job(settings)
    except duckdb.OutOfMemoryException as exc:
        raise EnvmonError(
            f"envmon load: DuckDB ran out of memory (duckdb_memory_limit {settings.duckdb_memory_limit}) "
            f"outside any one batch: {_first_line(exc)}. Raise ENVMON_DUCKDB_MEMORY_LIMIT and run it again."
        ) from None
    except duckdb.FatalException as exc:
        raise EnvmonError(
            f"envmon load: DuckDB invalidated the connection ({_first_line(exc)}); nothing of the failed "
            f"transaction was committed. With duckdb_memory_limit {settings.duckdb_memory_limit} DuckDB cannot "
            "write this warehouse: raise ENVMON_DUCKDB_MEMORY_LIMIT and run `envmon load` again."
        ) from None
    except duckdb.Error as exc:
        if "no space left" in str(exc).lower():
            raise EnvmonError(
                f"envmon load: the disk is full ({_first_line(exc)}); free space on the disk of "
                f"{settings.warehouse_path} or point ENVMON_DUCKDB_TEMP_DIR (now {settings.duckdb_spill_dir}) "
                "at a larger disk, then run `envmon load` again."
            ) from None
        raise EnvmonError(f"envmon load: DuckDB failed ({type(exc).__name__}): {_first_line(exc)}") from None
    console.print(
        f"loaded {len(report.loaded)} batches: {report.rows_inserted} readings inserted, "
        f"{report.rows_duplicate} duplicates collapsed, {report.rows_conflict} conflicts recorded; "
        f"{report.dead_letters} dead letters in {report.dead_letter_batches} batches; "
        f"{len(report.quarantined)} batches quarantined; {report.already_loaded} already loaded"
    )
    if report.logger_events[0]:
        console.print(f"  logger events (CN 2021/2072): {report.logger_events[1]} new of "
                      f"{report.logger_events[0]} loaded")
    for relpath, reason in report.quarantined:
        console.print(f"  quarantined {relpath}: {reason}", style="red")
    if report.tmp_removed:
        console.print(f"  removed {len(report.tmp_removed)} unfinished .tmp-* landing file(s) a crash left: "
                      + ", ".join(report.tmp_removed[:5]) + (" ..." if len(report.tmp_removed) > 5 else ""))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def status(
    at: Annotated[datetime | None, typer.Option(
        metavar="TIME", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M%z",
                 "%Y-%m-%dT%H:%M:%S%z"],
        help="as of this time: local time unless an offset is given (2026-12-02T08:00 or "
             "2026-12-02T08:00+08:00); default now")] = None,
) -> None:
    """Per site, as of a time (nothing later counted): hours missing over the last 24 hours
    (worst first within air, water, noise, outlets), last reading, readings today; why an air
    station has no daily AQI for the day before, invalid daily values and QC flags; dead letters
    waiting."""
    import textwrap

    from rich.cells import cell_len

    from core.periods import from_local_input, local_minute
    from warehouse.jobs import KIND_ORDER, status_job

    tz = get_settings().tz
    report = status_job(at=None if at is None else from_local_input(at, tz))
    say = lambda text="", style=None: console.print(text, style=style, markup=False, highlight=False)  # noqa: E731
    wrap = lambda text: textwrap.fill(text, 78, initial_indent=" " * 6, subsequent_indent=" " * 8)  # noqa: E731
    day = report.sites[0].day.isoformat() if report.sites else ""
    say(f"envmon status at {local_minute(report.at, tz)}")
    say(f"hours missing: of the 24 hours {local_minute(report.window_start, tz)} to "
        f"{local_minute(report.window_end, tz)}")
    say(f"daily AQI and invalid days: {day}")
    kinds = sorted({s.kind for s in report.sites},
                   key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else len(KIND_ORDER), k))
    for kind in kinds:
        sites = [s for s in report.sites if s.kind == kind]
        say()
        say(f"{kind} ({len(sites)} sites)", style="bold")
        for s in sites:
            if not s.hours_expected:
                gap = "no parameters"
            else:
                gap = f"{s.hours_missing:>2} h missing"
                if s.hours_incomplete:
                    gap += f", {s.hours_incomplete} h incomplete"
            bad = s.hours_missing or s.hours_incomplete
            head = f"  {s.site_id}  {s.label_zh}"
            if cell_len(f"{head}  {s.name_en}") <= 80:
                head = f"{head}  {s.name_en}"
            say(head, style="red" if s.hours_missing else None)
            last = local_minute(s.last_period_start, tz) or "never"
            say(f"      {gap}; last {last}; {s.readings_today} today",
                style="red" if s.hours_missing else ("yellow" if bad else None))
            if s.kind == "air":
                say(wrap(f"AQI {s.aqi}" if s.aqi is not None else f"no daily AQI: {s.aqi_reason}"),
                    style=None if s.aqi is not None else "yellow")
            if s.day_invalid:
                say(wrap("invalid day: " + "; ".join(s.day_invalid)))
            if s.qc_flags:
                say(wrap("QC 24 h: " + ", ".join(f"{n} {sev} {check}" for sev, check, n in s.qc_flags)))
    say()
    waiting = ", ".join(f"{k}: {v}" for k, v in report.dead_letters_waiting.items()) or "none"
    say(f"readings: {report.readings_total}; conflicts recorded: {report.conflicts}; "
        f"quarantined batches: {report.quarantined_batches}")
    say(wrap(f"dead letters waiting: {waiting}").strip())


registry_cli.register(registry_app)  # registry show, registry validate (no warehouse)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.add_typer(registry_app, name="registry")
    app.command()(load)
    app.command()(status)
