"""ingest.mqtt.service.run_ingestor: the daemon loop with a real Mosquitto. SIGHUP reloads the
registry (a broken one is logged and the previous kept), SIGTERM/SIGINT flush and acknowledge;
progress lines are logged. The signal handlers are captured rather than installed, and called as
the kernel would, so the test never signals the test process itself."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _mqtt_helpers import REPO, LandingReader, ingestor_config, station_publisher

from core.settings import Settings
from ingest.mqtt import service
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import MqttIngestor

pytestmark = pytest.mark.network

Handler = Callable[[int, object], None]


def reading(site: str, hour: int) -> tuple[str, bytes]:
    payload = {"site": site, "period_start": f"2024-05-01T{hour:02d}:00:00+08:00", "interval_s": 3600,
               "values": {"pm25": 35, "no2": 41}}
    return f"envmon/v1/air/{site}", json.dumps(payload).encode()


class Daemon:
    """run_ingestor in the main thread (as `envmon mqtt run` runs it); a helper thread drives it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.handlers: dict[int, Handler] = {}
        self.installed = threading.Event()
        self.ingestors: list[MqttIngestor] = []

        def capture(signum: int, handler: Handler) -> None:
            self.handlers[signum] = handler
            if {signal.SIGTERM, signal.SIGINT, signal.SIGHUP} <= set(self.handlers):
                self.installed.set()

        class Recorded(MqttIngestor):
            def __init__(inner, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                super().__init__(*args, **kwargs)
                self.ingestors.append(inner)

        monkeypatch.setattr(service.signal, "signal", capture)
        monkeypatch.setattr(service, "MqttIngestor", Recorded)

    def send(self, signum: int) -> None:
        self.handlers[signum](signum, None)

    def run(self, settings: Settings, broker: Broker, script: Callable[[MqttIngestor], None],
            stop: int = signal.SIGTERM) -> MqttIngestor:
        """Run the daemon until `script` (in a thread, given the connected ingestor) returns."""
        errors: list[BaseException] = []

        def drive() -> None:
            try:
                assert self.installed.wait(15), "run_ingestor installed no signal handlers"
                assert self.ingestors and self.ingestors[0].connected.wait(15), "the ingestor did not connect"
                script(self.ingestors[0])
            except BaseException as exc:  # reported in the main thread
                errors.append(exc)
            finally:
                if self.installed.is_set():
                    self.send(stop)

        thread = threading.Thread(target=drive, daemon=True)
        thread.start()
        out = service.run_ingestor(settings, ingestor_config(broker, client_id="svc", batch_wait_s=0.05),
                                   stats_every_s=0.01)
        thread.join(15)
        if errors:
            raise errors[0]
        return out


def test_ingests_reloads_on_sighup_and_flushes_on_sigterm(
    broker: Broker, settings: Settings, landing: LandingReader, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="envmon.mqtt")
    daemon = Daemon(monkeypatch)
    reloaded = threading.Event()
    monkeypatch.setattr(service, "load_registry", counting(service.load_registry, reloaded))

    def script(ingestor: MqttIngestor) -> None:
        pub = station_publisher(broker)
        pub.wait_connected()
        pub.publish_all([reading("dongsi", 8)])
        pub.close()
        landing.wait_for(lambda r: len(r.keys) >= 2, timeout_s=15)
        daemon.send(signal.SIGHUP)
        assert reloaded.wait(5), "SIGHUP did not reload the registry"

    ingestor = daemon.run(settings, broker, script)
    assert (ingestor.stats.messages, ingestor.stats.readings, ingestor.stats.acked) == (1, 2, 1)
    assert ingestor.stats.dead_letters == 0
    text = caplog.text
    assert f"ingesting envmon/v1/# from {broker.host}:{broker.port} into {settings.landing_root}" in text
    assert f"registry reloaded from {settings.config_dir}" in text
    assert "1 messages, 2 readings, 0 logger events, 0 dead letters, 1 batches, 1 acked" in text
    messages = [r.getMessage() for r in caplog.records]
    shutdown = messages.index("shutting down: flushing and acknowledging")
    assert shutdown > messages.index(f"registry reloaded from {settings.config_dir}")
    assert messages[shutdown + 1:] == ["stopped: 1 messages, 2 readings, 0 logger events, 0 dead letters in 1 "
                                       "batches; 1 acked"]  # the ingestor stopped (flushed) after the signal


def counting(load: Callable[[Path], object], second_call: threading.Event) -> Callable[[Path], object]:
    calls = [0]

    def wrapped(config_dir: Path) -> object:
        out = load(config_dir)
        calls[0] += 1
        if calls[0] >= 2:
            second_call.set()
        return out

    return wrapped


def test_a_broken_registry_on_sighup_keeps_the_previous_one(
    broker: Broker, settings: Settings, landing: LandingReader, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config" / "registry", config / "registry")
    settings = settings.model_copy(update={"config_dir": config})
    caplog.set_level(logging.INFO, logger="envmon.mqtt")
    daemon = Daemon(monkeypatch)

    def script(ingestor: MqttIngestor) -> None:
        (config / "registry" / "units.yaml").write_text("units: [{unit: ug/m3}]\n", encoding="utf-8")
        daemon.send(signal.SIGHUP)
        assert wait_for_log(caplog, "registry reload failed"), "no reload failure was logged"
        pub = station_publisher(broker)  # the previous registry still decodes dongsi
        pub.wait_connected()
        pub.publish_all([reading("dongsi", 9)])
        pub.close()
        landing.wait_for(lambda r: len(r.keys) >= 2, timeout_s=15)

    ingestor = daemon.run(settings, broker, script, stop=signal.SIGINT)  # Ctrl-C stops it the same way
    assert (ingestor.stats.readings, ingestor.stats.dead_letters) == (2, 0)
    (record,) = [r for r in caplog.records if r.getMessage().startswith("registry reload failed")]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("registry reload failed, keeping the previous one: ")
    assert str(config / "registry" / "units.yaml") in record.getMessage()  # names the broken file
    assert "registry reloaded" not in caplog.text


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while text not in caplog.text:
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.02)  # a poll, not a timing assumption
    return True
