"""envmon.cli.deadletters: `envmon deadletters retry` lands the HJ 212 dead letters that pass
now (after the unknown logger is enrolled) and keeps the others, once each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
import yaml
from _cli_run import NEW_MN, NEW_PW, REPO, envmon, hj212_traffic

from core.settings import reset_settings_cache
from envmon.cli import deadletters as deadletters_cli
from warehouse.db import connect


def test_register_adds_the_group() -> None:
    app = typer.Typer()
    deadletters_cli.register(app)
    assert [g.name for g in app.registered_groups] == ["deadletters"]
    assert [c.name for c in deadletters_cli.deadletters_app.registered_commands] == ["retry"]


def test_nothing_waiting(wh) -> None:  # type: ignore[no-untyped-def]
    assert envmon("deadletters", "retry") == (
        "0 HJ 212 dead letters waiting: 0 landed again (0 with readings: 0 readings; 0 logger-event packets: "
        "0 events; 0 to the event log), 0 kept; 0 batches (run `envmon load`)\n")


def test_retry_after_enrolment_lands_the_logger_and_keeps_the_bad_crc(
    wh, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(config))
    reset_settings_cache()
    traffic = hj212_traffic(tmp_path / "t.h212")
    envmon("hj212", "ingest", str(traffic))  # 13 unknown-MN letters, 1 bad CRC, 1 landed
    # still unknown: the retry (which loads the landing batches first) keeps them all
    assert envmon("deadletters", "retry").startswith("14 HJ 212 dead letters waiting: 0 landed again (")

    envmon("registry", "enrol", "--out", str(tmp_path / "stubs"), "--traffic", str(traffic))
    stub = yaml.safe_load((tmp_path / "stubs" / "enterprises.enrolled.yaml").read_text(encoding="utf-8"))
    outlet = stub["enterprises"][0]["outlets"][0]
    assert (outlet["logger"]["mn"], outlet["logger"]["password"]) == (NEW_MN, NEW_PW)  # read from the traffic
    shutil.copy(tmp_path / "stubs" / "enterprises.enrolled.yaml", config / "registry")
    assert "registry loaded" in envmon("registry", "load")

    assert envmon("deadletters", "retry") == (
        "14 HJ 212 dead letters waiting: 13 landed again (13 with readings: 13 readings; 0 logger-event packets: "
        "0 events; 0 to the event log), 1 kept; 1 batches (run `envmon load`)\n")
    assert envmon("deadletters", "retry").startswith("1 HJ 212 dead letters waiting: 0 landed again (")  # once
    envmon("load")
    with connect(wh, write=False) as con:
        site = outlet["site_id"]
        n = con.execute("SELECT count(*) FROM readings WHERE site_id = ?", [site]).fetchone()[0]
        waiting = con.execute("SELECT reason FROM dead_letters WHERE status = 'waiting'").fetchall()
    assert n == 13
    assert [r[0].split(":")[0] for r in waiting] == ["crc"]
