"""Simulated loggers against the server: 200 at once, back-fill, commands, end to end into the warehouse."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hj212_server_util import (
    MN,
    SITE,
    RawLogger,
    dead_letters,
    minute_packet,
    past_minute,
    readings,
    running_server,
)

from core.registry.config import load_registry
from core.settings import load_settings
from ingest.hj212.auth import PeerPolicy
from sim.hj212_simulator import LoggerSimOptions, LoggerSimulator, write_synthetic_registry

pytestmark = pytest.mark.network
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(load_settings().config_dir)


def last_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


def test_200_concurrent_loggers(settings, tmp_path) -> None:
    config = write_synthetic_registry(REPO / "config", tmp_path / "config", 200)
    registry = load_registry(config)
    end = last_hour()
    sim = LoggerSimulator(registry, end - timedelta(hours=1), end, LoggerSimOptions(
        seed=7, hourly=False, gap_rate=0.0, outage_rate=0.0, linger_s=0.5))  # fmt: skip

    async def scenario():  # type: ignore[no-untyped-def]
        # 200 loggers from one host: above the server's default limit of connections per peer host
        async with running_server(
            settings, registry, batch_wait_s=0.2, peers=PeerPolicy(max_connections=400)
        ) as server:
            _, port = server._server.sockets[0].getsockname()[:2]
            report = await sim.run("127.0.0.1", port)
        return report, server.stats

    report, stats = asyncio.run(scenario())
    assert report.loggers == 200 and report.connects == 200 and stats.connections == 200
    assert report.packets == 200 * 60  # every minute of every logger
    assert report.acks == report.packets and report.unacknowledged == 0
    rows = readings(settings)
    keys = {(r["site_id"], r["parameter"], r["period_start"], r["interval_s"]) for r in rows}
    # flue-gas outlets send 9 parameters, waste-water ones 6; 100 of each. (A packet re-sent after
    # an answer came late lands twice; the warehouse collapses the copy, so count distinct keys.)
    assert len(keys) == report.readings == sim.expected_readings() == 60 * (100 * 9 + 100 * 6)
    assert len({r["site_id"] for r in rows}) == 200
    assert dead_letters(settings) == []


def test_end_to_end_simulator_server_landing_warehouse(settings, registry) -> None:
    from warehouse.db import connect
    from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job

    end = last_hour()
    outlets = sorted(registry.outlets)[:8]
    opts = LoggerSimOptions(seed=11, gap_rate=0.01, outage_rate=0.35, corrupt_rate=0.02, exceed_rate=0.2,
                            maintenance_rate=0.3, stuck_rate=0.05, calibration_hour=None)  # fmt: skip
    sim = LoggerSimulator(registry, end - timedelta(hours=3), end, opts, outlets)
    assert sum(len(lg.outages) for lg in sim.loggers) > 0  # the seed gives link outages to fill

    async def scenario():  # type: ignore[no-untyped-def]
        async with running_server(settings, registry, batch_wait_s=0.1) as server:
            _, port = server._server.sockets[0].getsockname()[:2]
            return await sim.run("127.0.0.1", port)

    report = asyncio.run(scenario())
    assert report.outages > 0 and report.history_packets > 0 and report.corrupt > 0
    journal = [
        json.loads(x) for x in (settings.home / "hj212" / "backfill.jsonl").read_text().splitlines()
    ]
    filled = [j for j in journal if j["event"] == "success"]
    assert filled and all(j["received"] <= j["slots"] for j in filled)
    assert sum(j["received"] for j in filled) == report.history_packets

    init_warehouse(settings)
    load_registry_job(settings)
    load = load_landing_job(settings)
    assert load.quarantined == []
    with connect(settings, write=False, purpose="test") as con:
        held = con.execute("SELECT count(*) FROM readings WHERE source_kind = 'hj212'").fetchall()[
            0
        ][0]
        per_interval = dict(con.execute(
            "SELECT interval_s, count(*) FROM readings GROUP BY 1").fetchall())  # fmt: skip
        dead = con.execute(
            "SELECT count(*) FROM dead_letters WHERE source_kind = 'hj212'"
        ).fetchall()[0][0]
        flags = dict(
            con.execute(
                "SELECT flag, count(*) FROM readings WHERE interval_s < 3600 GROUP BY 1"
            ).fetchall()
        )
    # every reading generated is held exactly once, including those only re-sent by back-fill
    assert held == sim.expected_readings() == report.expected_readings
    assert load.rows_conflict == 0
    # the demo registry's 10-minute logger (datang_gaojing_da001, end-labelled) lands 600 s data
    assert set(per_interval) == {60, 600, 3600}
    assert dead == report.corrupt  # each damaged copy is a dead letter (its good twin landed)
    # the minute values keep the flags the loggers gave them (maintenance episodes: M)
    assert flags == dict(report.flags) and flags["M"] > 0


def test_commands_clock_and_history_on_a_connected_logger(settings, registry) -> None:
    end = last_hour()
    sim = LoggerSimulator(registry, end - timedelta(hours=1), end,
                          LoggerSimOptions(seed=5, hourly=False, gap_rate=0.0, linger_s=3.0), [SITE])  # fmt: skip

    async def scenario():  # type: ignore[no-untyped-def]
        async with running_server(settings, registry, batch_wait_s=0.05, backfill=False) as server:
            _, port = server._server.sockets[0].getsockname()[:2]
            run = asyncio.create_task(sim.run("127.0.0.1", port))
            while server.stats.packets_landed < 60:
                await asyncio.sleep(0.05)
            target = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
            setting = await server.set_clock(MN, target)
            reading = await server.read_clock(MN)
            history = await server.request_history(
                MN, "2051", end - timedelta(minutes=10), end - timedelta(minutes=6)
            )
            nothing = await server.request_history(
                MN, "2051", end - timedelta(days=3), end - timedelta(days=2)
            )
            await run
            return setting, reading, history, nothing, server.stats

    setting, reading, history, nothing, stats = asyncio.run(scenario())
    assert setting.outcome == "success" and (setting.qn_rtn, setting.exe_rtn) == (1, 1)
    assert reading.outcome == "success"
    assert (
        abs((reading.system_time() - datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)).total_seconds()) < 1
    )
    assert history.outcome == "success" and len(history.uploads) == 5  # minutes :50 to :54
    assert nothing.outcome == "no_data" and nothing.exe_rtn == 100
    assert stats.readings == (60 + 5) * 9  # the re-sent minutes land again (collapsed on load)


def test_gap_after_reconnect_is_requested_and_journaled(settings, registry) -> None:
    """A logger that comes back after missing minutes is asked for them; refusal is journaled too."""
    start = past_minute(40)

    async def scenario() -> list[dict]:
        async with running_server(settings, registry, batch_wait_s=0.05, command_timeout_s=0.5,
                                  command_retries=1) as server:  # fmt: skip
            _, port = server._server.sockets[0].getsockname()[:2]
            logger = await RawLogger.connect(port)
            await logger.send(minute_packet(start, "20200101000000100"))
            await logger.answer()
            await logger.close()
            logger = await RawLogger.connect(port)  # back, 5 minutes later
            await logger.send(minute_packet(start + timedelta(minutes=5), "20200101000000101"))
            await logger.answer()  # 9014
            request = await logger.answer()  # the server asks for minutes 1-4
            assert request.cn == "2051"
            assert (request.get("BeginTime"), request.get("EndTime")) == (
                (start + timedelta(minutes=1)).strftime("%Y%m%d%H%M%S"),
                (start + timedelta(minutes=4)).strftime("%Y%m%d%H%M%S"),
            )
            # this logger never answers: the request is sent again once, then given up
            again = await logger.answer()
            assert again.qn == request.qn
            await asyncio.sleep(0.8)
            await logger.close()
        return [
            json.loads(x)
            for x in (settings.home / "hj212" / "backfill.jsonl").read_text().splitlines()
        ]

    journal = asyncio.run(scenario())
    assert [j["event"] for j in journal] == ["requested", "timeout"]
    assert journal[1]["slots"] == 4 and journal[1]["received"] == 0 and journal[1]["attempts"] == 2
    state = json.loads((settings.home / "hj212" / "received.json").read_text())
    assert state["latest"][MN]["2051"] == (start + timedelta(minutes=5)).isoformat()


def test_sigterm_flushes_and_answers(settings, tmp_path) -> None:
    env = {**os.environ, "ENVMON_HOME": str(settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "envmon", "hj212", "serve", "--host", "127.0.0.1", "--port", "0", "--batch-wait", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO,
    )  # fmt: skip
    try:
        line = proc.stdout.readline().decode()
        port = int(re.search(r"listening on [\d.]+:(\d+)", line).group(1))

        async def scenario() -> str:
            logger = await RawLogger.connect(port)
            await logger.send(minute_packet(past_minute(5), "20200101000000200"))
            await asyncio.sleep(0.5)
            assert readings(settings) == []  # the batch waits up to 60 s ...
            proc.send_signal(signal.SIGTERM)  # ... unless the server is stopped
            answer = await logger.answer()
            await logger.close()
            return answer.qn

        assert asyncio.run(scenario()) == "20200101000000200"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(readings(settings)) == 2
    assert "1 records: 1 landed (2 readings)" in proc.stdout.read().decode()
