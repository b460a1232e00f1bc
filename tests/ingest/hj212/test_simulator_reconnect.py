"""Issue #18 item 5: the simulated loggers reconnect when the server dies, send again what it did
not answer, and never wait silently. A real `envmon hj212 serve` on a loopback port is killed
(SIGKILL: no flush, no goodbye) mid-stream and started again on the same port.

The guarantee checked: the server answers a packet only once its batch is durable, and the
logger sends again every unanswered packet after reconnecting, so every packet is landed at
least once (a packet whose answer was lost in the kill lands twice) and the warehouse holds every
generated reading exactly once (the copy collapses onto the reading's natural key, no conflict)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hj212_server_util import readings

from core.registry.config import load_registry
from core.settings import load_settings
from ingest.mqtt.broker import free_port
from sim.hj212_simulator import LoggerSimOptions, LoggerSimulator, SimulatorConnectionError

pytestmark = pytest.mark.network
REPO = Path(__file__).resolve().parents[3]
OUTLETS = ["huaneng_gaobeidian_da001", "huairou_wwtp_dw001"]


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(load_settings().config_dir)


def serve(settings, port: int) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "ENVMON_HOME": str(settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "envmon", "hj212", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--batch-wait", "0.05"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO,
    )  # fmt: skip
    line = proc.stdout.readline().decode()  # type: ignore[union-attr]
    assert re.search(rf"listening on 127\.0\.0\.1:{port}\b", line), line
    return proc


def test_server_killed_and_restarted_mid_stream_every_reading_held_once(
    settings, registry, caplog
) -> None:
    from warehouse.db import connect
    from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job

    caplog.set_level(logging.WARNING, logger="sim.hj212_simulator")
    port = free_port()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    # 3 hours of two loggers (1-minute data, hourly values, running status) in about 9 s
    opts = LoggerSimOptions(seed=4, gap_rate=0.0, outage_rate=0.0, speedup=1200.0, running_status_s=600,
                            ack_timeout_s=2.0, linger_s=0.5, reconnect_delay_s=(0.1, 0.8))  # fmt: skip
    sim = LoggerSimulator(registry, end - timedelta(hours=3), end, opts, OUTLETS)
    first = serve(settings, port)
    second = None
    try:

        async def scenario():  # type: ignore[no-untyped-def]
            nonlocal second
            run = asyncio.create_task(sim.run("127.0.0.1", port))
            await asyncio.sleep(3.0)
            assert not run.done()
            first.send_signal(signal.SIGKILL)  # mid-stream, nothing flushed
            await asyncio.to_thread(first.wait, 10)
            await asyncio.sleep(2.0)  # the loggers try, fail and back off meanwhile
            second = await asyncio.to_thread(serve, settings, port)
            return await asyncio.wait_for(run, 120)

        report = asyncio.run(scenario())
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    assert report.reconnects >= len(OUTLETS)  # each logger lost its connection and came back
    assert report.connect_failures > 0  # ... after refused attempts while the server was down
    assert report.unacknowledged == 0 and report.acks == report.packets + report.status_packets
    assert report.resends > 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("connection to the server lost" in m for m in messages)
    assert any(
        re.search(r"connecting to 127\.0\.0\.1:\d+ failed \(attempt 1: ", m) for m in messages
    )
    assert any("reconnected to" in m for m in messages)

    landed = readings(settings)
    keys = {(r["site_id"], r["parameter"], r["period_start"], r["interval_s"]) for r in landed}
    assert len(keys) == sim.expected_readings()  # at least once in the landing zone
    init_warehouse(settings)
    load_registry_job(settings)
    load = load_landing_job(settings)
    assert load.quarantined == [] and load.rows_conflict == 0
    with connect(settings, write=False, purpose="test") as con:
        held, distinct = con.execute(
            "SELECT count(*), count(DISTINCT (site_id, parameter, period_start, interval_s)) "
            "FROM readings WHERE source_kind = 'hj212'"
        ).fetchone()
    assert held == distinct == sim.expected_readings() == report.expected_readings  # exactly once


def test_no_server_is_a_clear_error_within_the_budget(registry) -> None:
    port = free_port()  # nothing listens there
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    opts = LoggerSimOptions(seed=1, reconnect_max_s=1.5, reconnect_delay_s=(0.1, 0.4))
    sim = LoggerSimulator(registry, end - timedelta(hours=1), end, opts, OUTLETS[:1])
    began = time.monotonic()
    with pytest.raises(
        SimulatorConnectionError, match=rf"no connection to 127\.0\.0\.1:{port} after \d+ attempt"
    ):
        asyncio.run(sim.run("127.0.0.1", port))
    assert time.monotonic() - began < 1.5 + 2.0  # bounded: the budget, not minutes of silence


def test_server_gone_for_good_mid_stream_is_a_clear_error(settings, registry) -> None:
    port = free_port()
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    opts = LoggerSimOptions(seed=1, speedup=1200.0, gap_rate=0.0, reconnect_max_s=1.5,
                            reconnect_delay_s=(0.1, 0.4), ack_timeout_s=1.0)  # fmt: skip
    sim = LoggerSimulator(registry, end - timedelta(hours=2), end, opts, OUTLETS[:1])
    proc = serve(settings, port)
    try:

        async def scenario() -> None:
            run = asyncio.create_task(sim.run("127.0.0.1", port))
            await asyncio.sleep(1.5)
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(run, 30)

        began = time.monotonic()
        with pytest.raises(SimulatorConnectionError, match=r"packet\(s\) unanswered"):
            asyncio.run(scenario())
        assert time.monotonic() - began < 15
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_cli_reports_the_lost_server_and_bad_habits(settings) -> None:
    env = {**os.environ, "ENVMON_HOME": str(settings.home)}
    port = free_port()
    cmd = [sys.executable, "-m", "envmon", "simulate", "loggers", "--port", str(port), "--days", "0.05",
           "--outlets", OUTLETS[0]]  # fmt: skip
    gone = subprocess.run([*cmd, "--reconnect-max-s", "1"], capture_output=True, text=True, env=env, cwd=REPO,
                          timeout=60)  # fmt: skip
    assert gone.returncode == 1
    assert f"no connection to 127.0.0.1:{port} after" in gone.stderr
    assert (
        "connecting to 127.0.0.1" in gone.stderr and "failed (attempt 1:" in gone.stderr
    )  # each attempt logged
    bad = subprocess.run([*cmd, "--hour-label", "middle"], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=60)  # fmt: skip
    assert bad.returncode == 2 and "hour label 'middle'; valid: start, end" in bad.stderr
