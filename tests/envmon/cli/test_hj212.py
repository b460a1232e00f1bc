"""envmon.cli.hj212: `envmon hj212 parse` (JSON per packet, exit 1 on a rejected one) and
`hj212 serve` + `hj212 replay` over loopback: a real server process receives recorded traffic
of a demo logger, lands it and prints its summary on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import typer
from _cli_run import REPO, envmon, invoke

from core.landing import READINGS, LandingZone
from core.settings import Settings
from envmon.cli import hj212 as hj212_cli
from ingest.hj212.protocol import DEFAULT_TZ, format_time, frame
from ingest.mqtt.broker import free_port

MN, PW = "G11010001883490606930", "956850"  # the first demo stack (config/registry/enterprises.yaml)


def minute_record(at: datetime, qn: str, so2: float) -> bytes:
    cp = f"DataTime={format_time(at)};a21026-Avg={so2},a21026-Flag=N;a19001-Avg=8.1,a19001-Flag=N"
    return frame(f"QN={qn};ST=31;CN=2051;PW={PW};MN={MN};Flag=5;CP=&&{cp}&&".encode())


def test_register_adds_the_hj212_group_with_the_onboarding_commands() -> None:
    app = typer.Typer()
    hj212_cli.register(app)
    assert [g.name for g in app.registered_groups] == ["hj212"]
    names = [c.name for c in hj212_cli.hj212_app.registered_commands]
    assert names[:3] == ["parse", "serve", "replay"] and {"ingest", "detect", "unknown"} <= set(names)


def test_parse_prints_local_times_and_exits_1_on_a_rejected_packet(tmp_path: Path) -> None:
    at = datetime(2024, 5, 1, 8, 1, tzinfo=DEFAULT_TZ)
    good = minute_record(at, "20240501080100000", 20.5)
    src = tmp_path / "p.h212"
    src.write_bytes(good)
    out = [json.loads(line) for line in envmon("hj212", "parse", str(src)).splitlines()]
    assert [(p["ok"], p["cn"], p["mn"], p["datatime"], p["crc_ok"]) for p in out] == [
        (True, "2051", MN, "2024-05-01T08:01:00+08:00", True)]
    assert out[0]["values"][0] == {"code": "a21026", "field": "Avg", "value": 20.5, "flag": "N"}
    bad = good[:-6] + b"0000\r\n"  # the CRC replaced
    res = invoke("hj212", "parse", "-", input=(good + bad).decode())  # '-': standard input
    assert res.exit_code == 1
    first, second = (json.loads(line) for line in res.output.splitlines())
    assert first["ok"] is True and second["ok"] is False and second["crc_ok"] is False
    assert re.fullmatch(r"bad CRC: packet says 0000, computed [0-9A-F]{4}", second["error"])


@pytest.mark.network
def test_serve_receives_what_replay_sends(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    at = datetime(2024, 5, 1, 8, 1, tzinfo=DEFAULT_TZ)
    records = [minute_record(at.replace(minute=m), f"2024050108{m:02d}00000", 20.0 + m) for m in (1, 2, 3)]
    traffic = tmp_path / "traffic.h212"
    traffic.write_bytes(b"".join(records))  # CRLF-separated, as recorded
    server = subprocess.Popen(
        [sys.executable, "-m", "envmon", "hj212", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--batch-wait", "0.05", "--no-backfill"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
        env={**os.environ, "ENVMON_HOME": str(settings.home)})
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == f"envmon hj212: listening on 127.0.0.1:{port}"
        out = envmon("hj212", "replay", str(traffic), "--port", str(port))
        assert out == f"sent 3 records ({traffic.stat().st_size} bytes) over 1 connections\n"
    finally:
        server.send_signal(signal.SIGTERM)  # flush and answer, then the summary
        summary, _ = server.communicate(timeout=60)
    assert server.returncode == 0
    # answers go out once a batch is on disk; replay half-closes at once, so how many reach it varies
    assert re.fullmatch(r"3 records: 3 landed \(6 readings\), 0 events, 0 dead-lettered; [0-3] answers sent; "
                        r"0 logins refused \(1 passwords checked\), 0 lockouts; 1 connections, 0 closed on accept, "
                        r"0 hosts throttled; 0 refused by the reading contract; [1-3] landing batches\n", summary), summary
    landing = LandingZone(settings.landing_root)
    rows = [r for p in landing.list_batches(READINGS) for r in landing.read(p).to_pylist()]
    so2 = sorted((r["period_start"], r["value"]) for r in rows if r["parameter"] == "so2")
    assert [(ts.isoformat(), v) for ts, v in so2] == [
        ("2024-05-01T00:01:00+00:00", 21.0), ("2024-05-01T00:02:00+00:00", 22.0), ("2024-05-01T00:03:00+00:00", 23.0)]


def test_replay_of_a_missing_file_fails(tmp_path: Path) -> None:
    res = invoke("hj212", "replay", str(tmp_path / "none.h212"), "--port", "1")
    assert res.exit_code != 0 and isinstance(res.exception, FileNotFoundError)
