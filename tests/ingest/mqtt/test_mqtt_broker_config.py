"""`envmon mqtt broker-config` writes a Mosquitto set-up that the real broker runs with: no
anonymous client, the ingestor's account reads, each station publishes with its own account
(`envmon simulate stations` does), and a second run keeps the passwords."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _mqtt_helpers import REPO, LandingReader

from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.mqtt.accounts import credentials_path, load_accounts
from ingest.mqtt.broker import find_mosquitto, free_port
from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor
from sim.publisher import Publisher, PublishError

pytestmark = pytest.mark.network


def envmon(settings: Settings, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVMON_HOME": str(settings.home), "ENVMON_MQTT_PORT": str(port)}
    return subprocess.run(
        [sys.executable, "-m", "envmon", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_broker_config_runs_on_mosquitto(
    settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    port = free_port()
    done = envmon(settings, port, "mqtt", "broker-config")
    assert done.returncode == 0, done.stderr
    accounts = load_accounts(credentials_path(settings.home))
    for account in accounts.by_user.values():  # no password on the terminal
        assert account.password not in done.stdout + done.stderr
    assert f"{len(registry.stations)} stations" in done.stdout
    again = envmon(settings, port, "mqtt", "broker-config")
    assert again.returncode == 0, again.stderr
    assert {
        u: a.password for u, a in load_accounts(credentials_path(settings.home)).by_user.items()
    } == {
        u: a.password for u, a in accounts.by_user.items()
    }  # a second run keeps every account's password

    conf = settings.home / "mqtt" / "mosquitto.conf"
    assert f"listener {port} 127.0.0.1" in conf.read_text()  # loopback: the settings' mqtt_host
    broker = subprocess.Popen(
        [find_mosquitto(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            probe = Publisher("127.0.0.1", port, client_id="probe")
            try:
                probe.wait_connected(1)
                pytest.fail("an anonymous client was let in")
            except PublishError as exc:
                if "Not authorized" in str(exc):
                    break  # the broker is up, and refuses anonymous clients
                assert time.monotonic() < deadline, (exc, broker.poll())
            finally:
                probe.close()
        ing = accounts.ingestor
        ingestor = MqttIngestor(
            IngestorConfig(
                port=port,
                client_id="cfg",
                username=ing.username,
                password=ing.password,
                batch_wait_s=0.05,
            ),
            registry,
            LandingZone(settings.landing_root),
        )
        ingestor.start()
        assert ingestor.connected.wait(15)
        # the station simulator publishes every air station with the station's own account
        sim = envmon(settings, port, "simulate", "stations", "--days", "0.25", "--kinds", "air")
        assert sim.returncode == 0, sim.stderr
        assert "all acknowledged" in sim.stdout and "refused" not in sim.stdout, sim.stdout
        published = int(sim.stdout.split("(")[1].split()[0])
        assert published > 0
        landing.wait_for(lambda r: len(r.keys) >= published)
        ingestor.stop()
        assert landing.dead == []
        air = {s for s, st in registry.stations.items() if st.kind == "air"}
        assert {k[0] for k in landing.keys} == air  # every station's readings, and no other
    finally:
        broker.terminate()
        broker.wait(30)
        assert broker.stderr is not None
        broker.stderr.close()


def test_unreadable_credentials_say_which_file(settings: Settings) -> None:
    path = credentials_path(settings.home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"accounts": {"envmon-ingestor": {}}}))
    done = envmon(settings, free_port(), "mqtt", "broker-config")
    assert done.returncode == 2
    assert f"envmon: error: {path}: not a valid MQTT credentials file" in done.stderr
    assert "Traceback" not in done.stderr
    assert Path(path).read_text() == json.dumps({"accounts": {"envmon-ingestor": {}}})
