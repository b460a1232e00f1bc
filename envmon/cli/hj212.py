"""`envmon hj212 ...`: HJ 212 logger protocol tools (parse now; serve is added later)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

hj212_app = typer.Typer(name="hj212", help="HJ 212 data-logger protocol tools.", no_args_is_help=True)


@hj212_app.command("parse")
def parse(
    file: Annotated[str, typer.Argument(help="packet file, one per line (gzip ok); '-' = stdin")] = "-",
) -> None:
    """Parse HJ 212 packets and print one JSON object per packet; exit 1 if any is rejected."""
    from ingest.hj212.cli import parse_stream, read_lines

    raise typer.Exit(parse_stream(read_lines(file), sys.stdout))


def register(app: typer.Typer) -> None:
    app.add_typer(hj212_app, name="hj212")
