"""`envmon hj212 ingest | detect | unknown`: recorded traffic offline, and the loggers in it.

Registered on the `hj212` command group by envmon/cli/hj212.py (`add_commands`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer


def _fmt_share(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def ingest(
    files: Annotated[
        list[Path], typer.Argument(help="recorded packets, one per line (CRLF or LF; gzip ok)")
    ],
) -> None:
    """Land recorded HJ 212 packets offline with the server's checks and dead letters (no answers)."""
    from core.installation_key import installation_key
    from core.landing import LandingZone
    from core.registry.config import load_registry
    from core.settings import get_settings
    from ingest.hj212.onboarding import land_files

    settings = get_settings()
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise typer.BadParameter(f"no such file: {', '.join(missing)}", param_hint="FILES")
    registry = load_registry(settings.config_dir)  # an ingestor: never the warehouse
    t0 = time.perf_counter()
    rep = land_files(
        files, registry, LandingZone(settings.landing_root), settings.home / "hj212", settings.tz,
        password_key=installation_key(settings.home),
    )  # fmt: skip
    typer.echo(
        f"{rep.records} records from {len(files)} file(s): {rep.landed} landed ({rep.readings} "
        f"readings), {rep.event_packets} logger-event packets ({rep.events} events), "
        f"{rep.logged} kept in the event log, {rep.dead} dead-lettered "
        f"({rep.dead_letters} dead letters); {len(rep.batches)} batches; "
        f"{time.perf_counter() - t0:.1f} s"
    )
    for kind, n in rep.dead_reasons.most_common():
        typer.echo(f"  dead letters {kind}: {n}")


def detect(
    files: Annotated[list[Path], typer.Argument(help="recorded packets (gzip ok)")],
    per_logger: Annotated[bool, typer.Option(help="one line per logger (MN)")] = True,
) -> None:
    """Per logger (MN): minute interval (median step of CN 2051) and hour label (start or end)."""

    from core.settings import get_settings
    from ingest.hj212.bulk import parse_records
    from ingest.hj212.detect import detect_habits
    from ingest.hj212.onboarding import read_file_records

    settings = get_settings()
    records = [r for f in files for r in read_file_records(f)]
    bulk = parse_records(records, tz=settings.tz, max_future=None)
    habits = detect_habits(bulk.packets, bulk.values, settings.tz)
    if per_logger:
        typer.echo("mn\tminute_interval_s\tsteps\thour_label\tpairs\tagree_start\tagree_end")
        for h in habits.values():
            typer.echo(f"{h.mn}\t{h.minute_interval_s or '-'}\t{h.minute_steps}\t"
                       f"{h.hour_label or '-'}\t{h.pairs}\t{_fmt_share(h.agree_start)}\t"
                       f"{_fmt_share(h.agree_end)}")  # fmt: skip
    typer.echo(_summary(habits.values()))


def _summary(habits) -> str:
    from collections import Counter

    habits = list(habits)
    steps = Counter(h.minute_interval_s for h in habits if h.minute_interval_s)
    labels = Counter(h.hour_label for h in habits if h.hour_label)
    pairs = sum(h.pairs for h in habits)
    ok_s = sum(round(h.agree_start * h.pairs) for h in habits if h.agree_start is not None)
    ok_e = sum(round(h.agree_end * h.pairs) for h in habits if h.agree_end is not None)
    share = (lambda ok: f"{100 * ok / pairs:.0f} %") if pairs else (lambda ok: "-")
    return (
        f"{len(habits)} loggers; minute intervals: "
        + (", ".join(f"{s} s: {n}" for s, n in sorted(steps.items())) or "none")
        + f"; hour labels: start {labels.get('start', 0)}, end {labels.get('end', 0)}, "
        f"undecided {len(habits) - sum(labels.values())}; minute-vs-hour pairs {pairs}: "
        f"agree as start {share(ok_s)}, as end {share(ok_e)}"
    )


def unknown() -> None:
    """Loggers not in the registry, from the unknown-MN dead letters (with what their traffic shows)."""
    from core.landing import LandingZone
    from core.registry.config import load_registry
    from core.settings import get_settings
    from ingest.hj212.onboarding import unknown_loggers, unknown_mn_raws

    settings = get_settings()
    registry = load_registry(settings.config_dir)
    found = unknown_loggers(
        unknown_mn_raws(LandingZone(settings.landing_root)), registry, settings.tz
    )
    typer.echo("mn\tfirst_seen\tlast_seen\tpackets\tcns\tcodes\tminute_interval_s\thour_label")
    for lg in found:
        h = lg.habits
        typer.echo(
            f"{lg.mn}\t{lg.first_seen.isoformat() if lg.first_seen else '-'}\t"
            f"{lg.last_seen.isoformat() if lg.last_seen else '-'}\t{lg.packets}\t{','.join(lg.cns)}\t"
            f"{','.join(lg.codes)}\t{(h and h.minute_interval_s) or '-'}\t{(h and h.hour_label) or '-'}"
        )
    typer.echo(
        f"{len(found)} unknown loggers; " + _summary([lg.habits for lg in found if lg.habits])
    )


def add_commands(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("detect")(detect)
    app.command("unknown")(unknown)
