"""`envmon status [--at T]`: as of T (local time unless an offset is given), nothing after T;
hours missing per site over the last 24 hours, grouped by kind and worst first; why an air
station has no daily AQI (the stored reason); invalid days and QC flags; local times."""

from __future__ import annotations

import pytest
from _cli_run import envmon
from _status_scenario import OUTLET, fill
from typer.testing import CliRunner

from core.settings import Settings
from envmon.cli import app
from envmon.cli import core as core_cli


@pytest.fixture
def scenario(wh: Settings) -> Settings:
    return fill(wh)


def _block(out: str, site: str) -> list[str]:
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(f"  {site}  "))
    block = [lines[i]]
    for line in lines[i + 1:]:
        if not line.startswith("      "):
            break
        block.append(line.strip())
    return block


def test_status_cli_local_time_grouped_and_readable_at_80_columns(scenario: Settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(core_cli.console, "width", 80)
    out = envmon("status", "--at", "2026-12-02T14:00")  # local time: 06:00 UTC
    assert out.startswith("envmon status at 2026-12-02 14:00+08:00\n")
    assert "UTC" not in out
    assert out == envmon("status", "--at", "2026-12-02T14:00+08:00")
    assert out == envmon("status", "--at", "2026-12-02T06:00+00:00")
    assert "hours missing: of the 24 hours 2026-12-01 14:00+08:00 to 2026-12-02 14:00+08:00\n" in out
    assert "daily AQI and invalid days: 2026-12-01\n" in out
    # grouped by kind, air first, outlets last
    heads = [line for line in out.splitlines() if line and not line.startswith(" ") and "sites)" in line]
    assert [h.split()[0] for h in heads] == ["air", "water", "noise", "outlet"]
    block = _block(out, OUTLET)
    assert "华能北京热电厂 燃煤机组烟囱1号" in block[0]
    assert block[1] == "5 h missing, 19 h incomplete; last 2026-12-02 13:59+08:00; 1620 today"
    assert "invalid day: so2: 18 valid hours < 20 required" in block
    assert "QC 24 h: 1 suspect flat_line" in block
    dongsi = _block(out, "dongsi")
    assert "no daily AQI: pm25: 17 valid hours < 20 required" in dongsi
    assert all(len(line) <= 80 for line in out.splitlines())


def test_status_help_says_local_time() -> None:
    out = CliRunner().invoke(app, ["status", "--help"], env={"COLUMNS": "200"}).output
    assert "local time unless an offset is given" in out
