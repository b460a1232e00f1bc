"""`envmon demo`: the whole pipeline end to end on embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer


def demo(
    home: Annotated[str | None, typer.Option(help="state folder for the demo (default: ENVMON_HOME or ./var)")] = None,
    days: Annotated[int, typer.Option(min=1, max=31, help=(
        "days of data to generate: the last whole local days before today; the enforcement story "
        "(按日连续处罚, config/demo/scenario.yaml) needs 4"))] = 4,
) -> None:
    """Run the demo pipeline: warehouse, registry, simulated data, load, summary."""
    from envmon.demo import run_demo

    run_demo(home=home, days=days)


def register(app: typer.Typer) -> None:
    app.command()(demo)
