"""envmon.cli.core: `envmon init`, `registry load|enrol`, `load`, `status` in-process on a fresh
ENVMON_HOME: exit codes, what they print, and the errors a person sees."""

from __future__ import annotations

import shutil
import stat
import time
from pathlib import Path

import pytest
import typer
import yaml
from _cli_run import REPO, WIDE, envmon, invoke, long_csv, main_exit

from core.registry.config import load_registry
from core.settings import reset_settings_cache
from envmon.cli import core as core_cli


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_cli.console, "width", WIDE)


def test_register_adds_the_core_commands() -> None:
    app = typer.Typer()
    core_cli.register(app)
    assert [c.callback.__name__ for c in app.registered_commands] == ["init", "load", "status"]
    assert [g.name for g in app.registered_groups] == ["registry"]


def test_init_applies_the_migrations_once() -> None:
    first = envmon("init")
    assert first.startswith("warehouse ready; migrations applied: 0001_core, 0040_qc, ")
    assert envmon("init") == "warehouse ready; migrations applied: none pending\n"


def test_registry_load_then_unchanged() -> None:
    reg = load_registry(REPO / "config")
    envmon("init")
    out = envmon("registry", "load")
    assert out.startswith(f"registry loaded: {len(reg.site_ids)} sites, {len(reg.enterprises)} enterprises, "
                          f"{len(reg.grids)} grids (config {reg.config_hash[:12]})\n")
    assert f"  sites: +{len(reg.site_ids)} -0\n" in out and f"  grids: +{len(reg.grids)} -0\n" in out
    assert envmon("registry", "load") == f"registry unchanged ({len(reg.site_ids)} sites, config {reg.config_hash[:12]})\n"


def test_a_broken_registry_is_a_clear_error_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    stations = config / "registry" / "stations.yaml"
    stations.write_text(stations.read_text(encoding="utf-8").replace("latitude: 40.003", "latitude: 400.003", 1),
                        encoding="utf-8")
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(config))
    reset_settings_cache()
    envmon("init")
    code, out, err = main_exit(monkeypatch, capsys, "registry", "load")
    assert code == 2 and out == ""
    assert err.startswith("envmon: error: registry configuration is invalid:\n")
    assert f"{stations}: stations[0].latitude: Input should be less than or equal to 90" in err
    assert "Traceback" not in err


def test_load_reports_batches_then_nothing_new(tmp_path: Path) -> None:
    envmon("init")
    envmon("registry", "load")
    assert envmon("load") == ("loaded 0 batches: 0 readings inserted, 0 duplicates collapsed, 0 conflicts recorded; "
                              "0 dead letters in 0 batches; 0 batches quarantined; 0 already loaded\n")
    src = long_csv(tmp_path / "a.csv", [("dongsi", "pm25", "2024-03-01T08:00+08:00", 35.0, "ug/m3"),
                                        ("dongsi", "pm10", "2024-03-01T08:00+08:00", 60.0, "ug/m3")])
    envmon("ingest", "files", str(src))
    assert envmon("load").startswith("loaded 1 batches: 2 readings inserted, 0 duplicates collapsed, ")


def test_status_counts_the_local_day_and_names_the_sites(tmp_path: Path) -> None:
    envmon("init")
    envmon("registry", "load")
    # 00:00 local on 1 March is 16:00 UTC on 29 February: today, locally; 23:00 local the day before is not
    src = long_csv(tmp_path / "a.csv", [("dongsi", "pm25", "2024-02-29T23:00+08:00", 35.0, "ug/m3"),
                                        ("dongsi", "pm25", "2024-03-01T00:00+08:00", 30.0, "ug/m3")])
    envmon("ingest", "files", str(src))
    envmon("load")
    out = envmon("status", "--at", "2024-03-01T08:00:00+08:00")
    assert out.startswith("envmon status at 2024-03-01 08:00+08:00\n")
    lines = out.splitlines()
    dongsi = lines.index("  dongsi  东四  Dongsi")
    # the 00:00 reading is today's; the hours 23:00 and 00:00 have 1 of 6 parameters, the 22 others none
    assert lines[dongsi + 1].strip() == "22 h missing, 2 h incomplete; last 2024-03-01 00:00+08:00; 1 today"
    assert "  tiantan  天坛  Tiantan (Temple of Heaven)" in lines
    assert out.rstrip().endswith("readings: 2; conflicts recorded: 0; quarantined batches: 0\n"
                                 "dead letters waiting: none")


def test_status_reads_a_time_typed_without_offset_as_local_time(monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as mp:  # a server clock in UTC, the settings in Asia/Shanghai
        mp.setenv("TZ", "UTC")
        time.tzset()
        try:
            envmon("init")
            out = envmon("status", "--at", "2024-03-01T08:00:00")
        finally:
            mp.undo()
            time.tzset()
    assert out.startswith("envmon status at 2024-03-01 08:00+08:00\n")  # 08:00 in Beijing, not UTC


def test_status_refuses_a_time_that_is_not_one() -> None:
    res = invoke("status", "--at", "yesterday")
    assert res.exit_code == 2 and "Invalid value for '--at'" in res.output


def test_enrol_with_no_unknown_logger_writes_an_empty_private_file(tmp_path: Path) -> None:
    envmon("init")
    out = envmon("registry", "enrol", "--out", str(tmp_path / "stubs"))
    target = tmp_path / "stubs" / "enterprises.enrolled.yaml"
    assert out == f"0 loggers enrolled as stubs in {target} (mode 0600)\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Registry stubs written by `envmon registry enrol`")
    assert yaml.safe_load(text) == {"enterprises": []}


def test_enrol_refuses_an_unknown_grid_naming_the_choices(tmp_path: Path) -> None:
    res = invoke("registry", "enrol", "--out", str(tmp_path), "--grid", "atlantis")
    assert res.exit_code == 2
    assert "Invalid value for --grid: unknown grid 'atlantis'; valid choices: " in " ".join(res.output.split())
    assert not (tmp_path / "enterprises.enrolled.yaml").exists()
