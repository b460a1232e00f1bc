"""File ingestion commands: `envmon ingest files PATH...` and `envmon ingest inbox`.

The ingestion functions are imported inside the commands; DEFAULT_SETTLE_S, a default that
--help shows, is the one import at start (`ingest.files.inbox` loads the ingestor only when a
scan runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.settings import get_settings
from ingest.files.inbox import DEFAULT_SETTLE_S

if TYPE_CHECKING:
    from ingest.files.ingest import FileReport

console = Console()
ingest_app = typer.Typer(help="Take in data: station exports, lab results, backfills.", no_args_is_help=True)
_SHOWN_BAD_ROWS = 20


def _print_file(report: FileReport) -> None:
    name = Path(report.path).name
    if report.status == "duplicate":
        console.print(f"[yellow]{name}[/]: {report.reason}")
    elif report.status == "changed":
        console.print(f"[yellow]{name}: changed while read, not ingested[/]: {report.reason}")
    elif report.status == "rejected":
        console.print(f"[red]{name}: rejected[/]: {report.reason}" + (f"\n  -> {report.quarantined}" if report.quarantined else ""))
    else:
        console.print(f"[green]{name}[/] ({report.profile}): {report.rows:,} rows -> {report.readings:,} readings "
                      f"in {report.seconds:.2f} s" + (f", {len(report.bad_rows)} bad rows" if report.bad_rows else ""))
    for bad in report.bad_rows[:_SHOWN_BAD_ROWS]:
        console.print(f"  {bad.file}:{bad.line}: {bad.reason}")
    if len(report.bad_rows) > _SHOWN_BAD_ROWS:
        console.print(f"  ... and {len(report.bad_rows) - _SHOWN_BAD_ROWS} more (see {report.quarantined})")


@contextmanager
def _progress(total_files: int) -> Iterator[Callable[[FileReport], None]]:
    """A bar over files showing rows and rows/s; prints each file's outcome as it finishes."""
    started = perf_counter()
    rows = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rows]:,} rows"), TextColumn("{task.fields[rate]:,.0f} rows/s"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=total_files < 2) as progress:
        task = progress.add_task("ingesting", total=total_files, rows=0, rate=0.0)

        def on_file(report: FileReport) -> None:
            nonlocal rows
            rows += report.rows
            progress.update(task, advance=1, rows=rows, rate=rows / max(perf_counter() - started, 1e-9))
            _print_file(report)

        yield on_file


def _summary(files: list[FileReport], readings: int, seconds: float) -> None:
    counts = {s: sum(1 for f in files if f.status == s) for s in ("ingested", "duplicate", "rejected", "changed")}
    rows = sum(f.rows for f in files)
    changed = f", {counts['changed']} changed while read (left for the next scan)" if counts["changed"] else ""
    console.print(f"{counts['ingested']} ingested, {counts['duplicate']} already ingested, {counts['rejected']} rejected"
                  f"{changed}; "
                  f"{rows:,} rows -> {readings:,} readings in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)")


@ingest_app.command("files")
def files(
    paths: Annotated[list[Path], typer.Argument(help="files or folders to ingest (CSV, XLSX, JSONL; .gz too)")],
    profile: Annotated[str | None, typer.Option(help="format profile (config/formats/NAME.yaml); default: detect")] = None,
) -> None:
    """Ingest files into the landing zone (a file already ingested is a no-op)."""
    from ingest.files.ingest import expand, ingest_paths

    started = perf_counter()
    with _progress(len(expand(paths))) as on_file:
        report = ingest_paths(paths, profile=profile, on_file=on_file)
    _summary(report.files, report.readings, perf_counter() - started)
    if report.count("rejected") or report.count("changed"):
        raise typer.Exit(1)


@ingest_app.command("inbox")
def inbox(
    settle: Annotated[float, typer.Option(help="seconds between the two size checks of a file")] = DEFAULT_SETTLE_S,
) -> None:
    """Ingest every complete file in the inbox; move it to inbox/done (or to quarantine).

    \b
    How to drop a file so that it is taken only when complete (docs/inbox.md):
      1. write it as NAME.part (or .NAME) and rename it to NAME when done, or
      2. write NAME, then create an empty NAME.ready beside it when done.
    A file with neither is taken only after its size and time held still for --settle seconds.
    A file that changes while it is read is not ingested, not moved, and is taken again later.
    Limits (settings): file_max_bytes, file_max_decompressed_bytes, file_max_gzip_ratio,
    file_max_rows, file_max_line_bytes.
    """
    from ingest.files.inbox import scan_inbox

    settings = get_settings()
    started = perf_counter()
    report = scan_inbox(settings, settle_s=settle, on_file=_print_file)
    _summary(report.files, report.readings, perf_counter() - started)
    if report.waiting:
        console.print(f"still being written, left for the next scan: {', '.join(report.waiting)}")


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
