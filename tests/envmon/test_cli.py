"""The command line as staff use it: real subprocesses, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def envmon(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envmon", *args], capture_output=True, text=True,
                          env=(env or dict(os.environ)) | {"COLUMNS": "200"}, cwd=REPO, timeout=timeout)


def test_demo_runs_end_to_end_and_summarises(tmp_path: Path) -> None:
    # the README's main job: real broker, ingestors, HJ 212 server, simulators and Airflow DAGs
    out = envmon("demo", "--home", str(tmp_path / "demo"), timeout=900)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-5000:]
    text = out.stdout
    assert "summary" in text and "4 succeeded, 0 failed" in text
    for source in ("readings from hj212", "readings from mqtt", "readings from file"):
        assert source in text
    # each scripted event raised its alert and opened its case in the expected grid (four), the
    # shut-down raised no exceedance and its hours show as not operating, and the 10-minute
    # end-labelled logger's hours are valid: seven checks
    assert text.count("as expected") == 7 and "NOT as expected" not in text
    for check in ("scenario shutdown", "shut-down hours", "10-minute logger"):
        assert check in text
    assert "全市" in text  # the city's daily AQI row
    assert (tmp_path / "demo" / "site" / "index.html").is_file()
    again = envmon("load", env=dict(os.environ) | {"ENVMON_HOME": str(tmp_path / "demo")})
    assert again.returncode == 0 and "loaded 0 batches" in again.stdout


def test_init_registry_load_status() -> None:
    assert envmon("init").returncode == 0
    first = envmon("registry", "load")
    assert first.returncode == 0 and "registry loaded" in first.stdout
    second = envmon("registry", "load")
    assert "registry unchanged" in second.stdout
    status = envmon("status")
    assert status.returncode == 0 and "dongsi" in status.stdout and "dead letters waiting: none" in status.stdout


def test_bad_configuration_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    out = envmon("registry", "load", env=dict(os.environ) | {"ENVMON_CONFIG_DIR": str(tmp_path)})
    assert out.returncode == 2
    assert "envmon: error:" in out.stderr and "units.yaml: missing" in out.stderr
    assert "Traceback" not in out.stderr
