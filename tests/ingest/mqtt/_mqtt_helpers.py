"""Helpers shared by the MQTT tests: load the landing zone into a warehouse and count."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from core.landing import DEAD_LETTERS, READINGS, LandingZone
from core.registry.config import Registry
from core.schema import NATURAL_KEY
from core.settings import Settings
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import IngestorConfig
from sim.publisher import AccountPublisher, Publisher
from sim.station_simulator import SimMessage, SimOptions, StationSimulator
from warehouse.db import connect
from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job
from warehouse.loader import LoadReport

REPO = Path(__file__).resolve().parents[3]
SENDER = "test-sender"  # a test account that may publish anywhere in the tree (conftest)


def ingestor_config(broker: Broker, **kwargs: object) -> IngestorConfig:
    """The ingestor's config for the test broker, with the ingestor's account."""
    assert broker.accounts is not None
    account = broker.accounts.ingestor
    return IngestorConfig(  # type: ignore[arg-type]
        host=broker.host,
        port=broker.port,
        username=account.username,
        password=account.password,
        **kwargs,
    )


def station_publisher(broker: Broker) -> AccountPublisher:
    """Each station publishes with its own account, as real stations do."""
    assert broker.accounts is not None
    return AccountPublisher(broker.host, broker.port, broker.accounts)


def sender_publisher(broker: Broker) -> Publisher:
    """The SENDER account: publishes to any topic (bad topics, unknown sites and loggers)."""
    assert broker.accounts is not None
    account = broker.accounts.by_user[SENDER]
    return Publisher(broker.host, broker.port, username=account.username, password=account.password)


@dataclass
class WarehouseCounts:
    report: LoadReport
    readings: int
    distinct_keys: int
    conflicts: int
    dead_letters: list[tuple[str, str]]  # (origin, reason)


def load_and_count(settings: Settings) -> WarehouseCounts:
    init_warehouse(settings)
    load_registry_job(settings)
    report = load_landing_job(settings)
    with connect(settings, write=False, purpose="test") as con:
        readings = con.execute("SELECT count(*) FROM readings").fetchone()[0]
        keys = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT site_id, parameter, period_start, interval_s, source_kind FROM readings)"
        ).fetchone()[0]
        conflicts = con.execute("SELECT count(*) FROM reading_conflicts").fetchone()[0]
        dead = con.execute("SELECT origin, reason FROM dead_letters ORDER BY origin").fetchall()
    return WarehouseCounts(report, readings, keys, conflicts, dead)


def sim_messages(
    registry: Registry, days: float, seed: int = 1, **options: object
) -> list[SimMessage]:
    """A deterministic stream ending a day ago (so no period start is in the future)."""
    end = datetime(2025, 1, 1, tzinfo=UTC)
    sim = StationSimulator(registry, SimOptions(seed=seed, **options))  # type: ignore[arg-type]
    return list(sim.messages(end - timedelta(days=days), end))


class LandingReader:
    """Reads new landing batches incrementally: distinct natural keys and dead letters so far."""

    def __init__(self, root: str):
        self.zone = LandingZone(root)
        self.seen: set[str] = set()
        self.keys: set[tuple] = set()
        self.rows = 0
        self.dead: list[dict] = []

    def poll(self) -> None:
        for relpath in self.zone.list_batches(READINGS):
            if relpath not in self.seen:
                self.seen.add(relpath)
                t = pq.read_table(self.zone.full_path(relpath), columns=list(NATURAL_KEY))
                self.rows += t.num_rows
                self.keys.update(zip(*(t.column(c).to_pylist() for c in NATURAL_KEY), strict=True))
        for relpath in self.zone.list_batches(DEAD_LETTERS):
            if relpath not in self.seen:
                self.seen.add(relpath)
                self.dead.extend(pq.read_table(self.zone.full_path(relpath)).to_pylist())

    def wait_for(
        self, predicate: Callable[[LandingReader], bool], timeout_s: float = 120.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            if predicate(self):
                return
            if time.monotonic() > deadline:  # a hang guard, not a timing assertion
                raise AssertionError(
                    f"landing zone did not reach the expected state: {len(self.keys)} keys, "
                    f"{len(self.dead)} dead letters"
                )
            time.sleep(0.2)


def start_ingestor_process(
    settings: Settings, broker: Broker, *args: str
) -> subprocess.Popen[bytes]:
    """`envmon mqtt run` as a subprocess against the test broker and the test's ENVMON_HOME."""
    env = {
        **os.environ,
        "ENVMON_HOME": str(settings.home),
        "ENVMON_MQTT_HOST": broker.host,
        "ENVMON_MQTT_PORT": str(broker.port),
    }
    log = open(settings.home / "ingestor.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envmon",
            "mqtt",
            "run",
            "--client-id",
            "test-ingestor",
            "--batch-wait",
            "0.2",
            *args,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 60.0
) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout=timeout_s)
