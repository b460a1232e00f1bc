"""The qc commands over the same job functions (a fresh Typer app with only them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from qcdata import AIR, reading
from typer.testing import CliRunner

from core.settings import Settings
from envmon.cli import qc as qc_cli
from envmon.cli.qc import register
from warehouse.db import connect


def test_qc_run_command(warehouse: Settings, add_readings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(qc_cli.console, "width", 250)  # no wrapping in tables
    t0 = datetime(2024, 2, 29, 16, tzinfo=UTC)
    with connect(warehouse) as con:
        add_readings(con, [reading(AIR, "pm25", t0 + timedelta(hours=h), 20.0 + h % 3) for h in range(24)])
    app = typer.Typer()
    register(app)
    run = CliRunner().invoke
    result = run(app, ["qc", "run", "--from", "2024-03-01", "--to", "2024-03-01"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("QC 2024-03-01 00:00+08:00 to 2024-03-02 00:00+08:00: 24 readings")  # local
    # the review commands need the registry's people and site names: tests/envmon/cli/test_review_cli_staff.py
