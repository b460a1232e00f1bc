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


# the demo end to end (the README's main job) is tests/envmon/test_demo_end_to_end.py


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
