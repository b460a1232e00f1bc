"""envmon.cli.mqtt: `envmon mqtt broker-config` (what it writes and prints, in-process) and
`envmon mqtt run` as a process against a real Mosquitto on loopback: it finds the ingestor's
account that broker-config made, lands a station's reading and stops cleanly on SIGTERM; without
an account it says it connects anonymously and why the broker refuses it."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from _cli_run import REPO, envmon, invoke

from core.landing import READINGS, LandingZone
from core.registry.config import load_registry
from core.settings import Settings
from envmon.cli import mqtt as mqtt_cli
from ingest.mqtt.accounts import credentials_path, ensure_accounts, load_accounts
from ingest.mqtt.broker import Broker, free_port
from sim.publisher import AccountPublisher


def test_register_adds_the_group() -> None:
    app = typer.Typer()
    mqtt_cli.register(app)
    assert [g.name for g in app.registered_groups] == ["mqtt"]
    assert [c.name for c in mqtt_cli.mqtt_app.registered_commands] == ["run", "broker-config"]


def test_broker_config_writes_the_broker_files_and_names_them(settings: Settings) -> None:
    reg = load_registry(settings.config_dir)
    out = envmon("mqtt", "broker-config")
    folder = settings.home / "mqtt"
    conf = folder / "mosquitto.conf"
    creds = credentials_path(settings.home)
    assert out.splitlines() == [
        f"{len(reg.stations) + len(reg.outlet_by_mn) + 1} accounts ({len(reg.stations)} stations, "
        f"{len(reg.outlet_by_mn)} HJ 212 loggers, the ingestor); anonymous clients refused",
        f"  passwords (0600): {creds}",
        f"  password file (hashes): {folder / 'passwd'}",
        f"  ACL: {folder / 'acl'}",
        f"  configuration: {conf} (listener 127.0.0.1:{settings.mqtt_port}); run: mosquitto -c {conf}",
    ]
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    accounts = load_accounts(creds)
    assert all(a.password not in out for a in accounts.by_user.values())  # never on the terminal
    text = conf.read_text(encoding="utf-8")
    assert f"listener {settings.mqtt_port} 127.0.0.1" in text and "allow_anonymous false" in text
    assert (folder / "persistence").is_dir()


def test_broker_config_into_another_folder(settings: Settings, tmp_path: Path) -> None:
    out = envmon("mqtt", "broker-config", "--out", str(tmp_path / "etc"))
    assert f"configuration: {tmp_path / 'etc' / 'mosquitto.conf'}" in out
    assert credentials_path(settings.home).is_file()  # the passwords stay with the installation


@pytest.mark.parametrize("args", [["--tls-cert", "c.pem"], ["--tls-cert", "c.pem", "--tls-key", "k.pem"],
                                  ["--tls-ca", "ca.pem", "--tls-key", "k.pem"]])
def test_tls_needs_all_three_files(settings: Settings, args: list[str]) -> None:
    res = invoke("mqtt", "broker-config", *args)
    assert res.exit_code == 2
    assert "TLS needs --tls-ca, --tls-cert and --tls-key together" in " ".join(res.output.replace("│", "").split())
    assert not credentials_path(settings.home).exists()  # refused before anything is written


# -- `envmon mqtt run` ------------------------------------------------------------------------


class Ingestor:
    """`envmon mqtt run` as a process; its log in a file the test reads while it runs."""

    def __init__(self, settings: Settings, port: int, log: Path):
        self.log = log
        self.fh = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "envmon", "mqtt", "run", "--port", str(port), "--client-id", "cli-test",
             "--batch-wait", "0.05"],
            stdout=self.fh, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "ENVMON_HOME": str(settings.home)})

    def wait_for(self, text: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in self.log.read_text(errors="replace"):
            assert self.proc.poll() is None, self.log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"no {text!r} in the log:\n{self.log.read_text(errors='replace')}"
            threading.Event().wait(0.05)  # a poll, not a timing assumption

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            self.fh.close()


@pytest.fixture
def broker(settings: Settings, tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto with the registry's accounts (kept under the test's ENVMON_HOME, as
    broker-config keeps them), on a free loopback port."""
    b = Broker(tmp_path / "broker", port=free_port(), accounts=ensure_accounts(settings.home,
                                                                                load_registry(settings.config_dir)))
    b.start()
    yield b
    b.kill()


@pytest.mark.network
def test_run_uses_the_ingestor_account_lands_and_stops_on_sigterm(
    settings: Settings, broker: Broker, tmp_path: Path
) -> None:
    ingestor = Ingestor(settings, broker.port, tmp_path / "ingestor.log")
    try:
        ingestor.wait_for("subscribed to envmon/v1/#")
        payload = {"site": "dongsi", "period_start": "2024-05-01T08:00:00+08:00", "interval_s": 3600,
                   "values": {"pm25": 35, "no2": 41}}
        assert broker.accounts is not None
        pub = AccountPublisher(broker.host, broker.port, broker.accounts)  # the station's own account
        pub.wait_connected()
        pub.publish_all([("envmon/v1/air/dongsi", json.dumps(payload).encode())])
        pub.close()
        landing = LandingZone(settings.landing_root)
        deadline = time.monotonic() + 30
        while not landing.list_batches(READINGS):
            assert time.monotonic() < deadline, ingestor.log.read_text()
            threading.Event().wait(0.05)
    finally:
        code = ingestor.stop()
    log = ingestor.log.read_text()
    assert code == 0, log
    assert f"using the ingestor account envmon-ingestor of {credentials_path(settings.home)}" in log
    assert "shutting down: flushing and acknowledging" in log
    rows = [r for p in landing.list_batches(READINGS) for r in landing.read(p).to_pylist()]
    assert sorted((r["site_id"], r["parameter"], r["value"]) for r in rows) == [
        ("dongsi", "no2", 41.0), ("dongsi", "pm25", 35.0)]


@pytest.mark.network
def test_run_without_an_account_says_so_and_why_the_broker_refuses(
    settings: Settings, broker: Broker, tmp_path: Path
) -> None:
    creds = credentials_path(settings.home)
    creds.rename(creds.with_name("elsewhere.json"))  # no account where `mqtt run` looks
    ingestor = Ingestor(settings, broker.port, tmp_path / "ingestor.log")
    try:
        ingestor.wait_for("check the user name and password")
    finally:
        assert ingestor.stop() == 0
    log = ingestor.log.read_text()
    assert f"no user name given and no {creds}: connecting anonymously" in log
    assert f"broker 127.0.0.1:{broker.port} refused the connection of an anonymous client: Not authorized" in log
    assert "ENVMON_MQTT_USERNAME / ENVMON_MQTT_PASSWORD, or the ingestor account of `envmon mqtt broker-config`" in log
