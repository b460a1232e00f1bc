"""The qc and review commands over the same job functions (a fresh Typer app with only them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import typer
from qcdata import AIR, reading
from typer.testing import CliRunner

from core.settings import Settings
from envmon.cli import qc as qc_cli
from envmon.cli.qc import register
from warehouse.db import connect


def test_qc_run_and_review_commands(warehouse: Settings, add_readings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(qc_cli.console, "width", 250)  # no wrapping in tables
    t0 = datetime(2024, 2, 29, 16, tzinfo=UTC)
    with connect(warehouse) as con:
        add_readings(con, [reading(AIR, "pm25", t0 + timedelta(hours=h), 20.0 + h % 3) for h in range(24)])
    app = typer.Typer()
    register(app)
    run = CliRunner().invoke
    result = run(app, ["qc", "run", "--from", "2024-03-01", "--to", "2024-03-01"])
    assert result.exit_code == 0, result.output
    assert "24 readings" in result.output
    result = run(app, ["review", "flag", "--site", AIR, "--parameter", "pm25", "--from", "2024-03-01T08:00",
                       "--to", "2024-03-01T10:00", "--reason", "calibration gas leak", "--by", "wang"])
    assert result.exit_code == 0, result.output
    review_id = result.output.split(":")[0].strip()
    with connect(warehouse, write=False) as con:
        failed = con.execute("SELECT period_start FROM v_readings_qc WHERE effective_verdict = 'fail' ORDER BY 1").fetchall()
    assert [r[0] for r in failed] == [datetime(2024, 3, 1, 0, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC)]  # 08:00, 09:00 local
    result = run(app, ["review", "revert", "--review-id", review_id, "--by", "wang"])
    assert result.exit_code == 0, result.output
    result = run(app, ["review", "list", "--site", AIR])
    assert result.exit_code == 0 and "calibration gas leak" in result.output and f"revert {review_id}" in result.output
    result = run(app, ["review", "audit", "--site", AIR, "--date", "2024-03-01", "--by", "wang"])
    assert result.exit_code == 0 and "audited by wang" in result.output
