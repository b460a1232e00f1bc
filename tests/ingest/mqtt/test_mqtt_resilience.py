"""Nothing lost, nothing counted twice: SIGKILL mid-stream, broker restart, offline session,
SIGTERM flush."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time

import pytest
from _mqtt_helpers import (
    LandingReader,
    ingestor_config,
    load_and_count,
    sim_messages,
    start_ingestor_process,
    station_publisher,
    stop_process,
)

from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import MqttIngestor
from sim.publisher import publish_paced

pytestmark = pytest.mark.network


def _publish_in_background(
    broker: Broker, messages: list, rate: float | None = None
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pub = station_publisher(broker)
            pub.wait_connected()
            publish_paced(pub, ((m.topic, m.payload, 0.0) for m in messages), rate=rate)
            pub.close()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, errors


def _wait_connected(
    settings: Settings, proc: subprocess.Popen[bytes], timeout_s: float = 60.0
) -> None:
    """Until the ingestor process logged its subscription (a hang guard, not a timing check)."""
    log = settings.home / "ingestor.log"
    deadline = time.monotonic() + timeout_s
    while f"[{proc.pid}]: connected" not in log.read_text():
        assert proc.poll() is None, log.read_text()[-2000:]
        assert time.monotonic() < deadline, "ingestor did not connect"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_at_random_points_exactly_once(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    messages = sim_messages(registry, days=36, seed=7)
    expected = sum(m.readings for m in messages)
    assert expected >= 100_000
    rng = random.Random(20240501)
    proc = start_ingestor_process(settings, broker, "--batch-messages", "500")
    _wait_connected(settings, proc)  # the session exists: from now on the broker keeps our messages
    # Spread the stream over ~15 s so that the kills fall inside it.
    publisher, errors = _publish_in_background(broker, messages, rate=len(messages) / 15)
    for _ in range(5):
        time.sleep(rng.uniform(0.1, 1.5))  # a random point of the ingestor's work
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = start_ingestor_process(settings, broker, "--batch-messages", "500")
        _wait_connected(settings, proc)
    publisher.join(timeout=300)
    assert not errors, errors
    landing.wait_for(lambda r: len(r.keys) >= expected, timeout_s=300)
    assert stop_process(proc) == 0

    counts = load_and_count(settings)
    assert counts.distinct_keys == expected
    assert counts.readings == expected
    assert counts.conflicts == 0
    assert counts.dead_letters == []
    assert counts.report.rows_inserted == expected
    # Copies written before a kill but never acknowledged were redelivered and collapsed.
    assert landing.rows == expected + counts.report.rows_duplicate


def test_broker_restart_mid_stream(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    messages = sim_messages(registry, days=8, seed=3)
    expected = sum(m.readings for m in messages)
    ingestor = MqttIngestor(
        ingestor_config(
            broker,
            client_id="restart",
            batch_messages=300,
            batch_wait_s=0.1,
            reconnect_min_s=0.5,
            reconnect_max_s=2,
        ),
        registry,
        LandingZone(settings.landing_root),
    )
    ingestor.start()
    assert ingestor.connected.wait(15)
    publisher, errors = _publish_in_background(broker, messages)
    landing.wait_for(lambda r: len(r.keys) >= expected // 4)  # mid-stream
    broker.restart()
    publisher.join(timeout=300)
    assert not errors, errors
    landing.wait_for(lambda r: len(r.keys) >= expected, timeout_s=300)
    ingestor.stop()
    assert ingestor.stats.connects >= 2  # it recovered on its own
    counts = load_and_count(settings)
    assert counts.distinct_keys == counts.readings == expected
    assert counts.conflicts == 0


def test_messages_published_while_down_are_delivered(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    messages = sim_messages(registry, days=2, seed=5)
    expected = sum(m.readings for m in messages)
    config = ingestor_config(broker, client_id="offline", batch_wait_s=0.1)
    first = MqttIngestor(config, registry, LandingZone(settings.landing_root))
    first.start()
    assert first.connected.wait(15)
    first.stop()  # the session (and its subscription) stays at the broker
    publisher, errors = _publish_in_background(broker, messages)
    publisher.join(timeout=300)
    assert not errors, errors
    broker.restart()  # queued messages survive a broker restart too (persistence)
    second = MqttIngestor(config, registry, LandingZone(settings.landing_root))
    second.start()
    landing.wait_for(lambda r: len(r.keys) >= expected)
    second.stop()
    assert second.stats.messages == len(messages)
    counts = load_and_count(settings)
    assert counts.readings == expected


def test_sigterm_flushes_and_acknowledges(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    messages = sim_messages(registry, days=1, seed=9)
    expected = sum(m.readings for m in messages)
    # A batch that neither fills nor ages during the test: only the shutdown flush writes it.
    proc = start_ingestor_process(
        settings, broker, "--batch-messages", "30000", "--batch-wait", "600"
    )
    log = settings.home / "ingestor.log"
    _wait_connected(settings, proc)
    publisher, errors = _publish_in_background(broker, messages)
    publisher.join(timeout=120)
    assert not errors, errors
    time.sleep(1.0)  # let the ingestor take them in (if not, the second run gets them: still exact)
    landing.poll()
    assert landing.rows == 0  # nothing was written before the signal
    assert stop_process(proc, signal.SIGTERM) == 0
    landing.poll()
    first_rows = landing.rows
    assert first_rows > 0
    assert "shutting down: flushing and acknowledging" in log.read_text()

    # Had the PUBACKs not reached the broker, the next run would be handed the same messages
    # again and write them twice.
    again = start_ingestor_process(settings, broker, "--batch-wait", "0.1")
    _wait_connected(settings, again)
    landing.wait_for(lambda r: len(r.keys) >= expected)
    time.sleep(1.0)  # room for any (wrong) redelivery to show up
    assert stop_process(again) == 0
    landing.poll()
    assert landing.rows == expected
    counts = load_and_count(settings)
    assert counts.readings == expected and counts.report.rows_duplicate == 0
