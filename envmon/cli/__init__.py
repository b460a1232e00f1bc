"""The `envmon` command line: staff and operators call the same functions the DAGs call.

Each area registers its commands from its own module (listed in COMMAND_MODULES), so the
command line stays a thin layer over importable functions.
"""

from __future__ import annotations

import importlib
import sys

import typer

from core.errors import EnvmonError

app = typer.Typer(
    name="envmon",
    help="envmon: environmental monitoring-data pipeline (ingest, validate, aggregate, alert, publish).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules with a `register(app)` function, in the order their commands appear in --help.
COMMAND_MODULES = (
    "envmon.cli.core",
    "envmon.cli.demo",
    "envmon.cli.files",
    "envmon.cli.calc",
    "envmon.cli.hj212",
    "envmon.cli.mqtt",
    "envmon.cli.simulate",
    "envmon.cli.qc",
    "envmon.cli.aggregate",
    "envmon.cli.alerts",
    "envmon.cli.cases",
    "envmon.cli.users",
    "envmon.cli.web",
    "envmon.cli.publish",
    "envmon.cli.export",
    "envmon.cli.pipeline",
    "envmon.cli.deadletters",
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    try:
        app()
    except EnvmonError as exc:
        typer.echo(f"envmon: error: {exc}", err=True)
        sys.exit(2)
