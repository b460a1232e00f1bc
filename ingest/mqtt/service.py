"""Run the ingestor as a daemon: signals, registry reload, periodic progress lines."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from core.errors import EnvmonError
from core.landing import LandingZone
from core.registry.config import load_registry
from core.settings import Settings
from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor

log = logging.getLogger("envmon.mqtt")


def run_ingestor(
    settings: Settings, config: IngestorConfig, *, stats_every_s: float = 10.0
) -> MqttIngestor:
    """Run until SIGTERM or SIGINT (then flush and acknowledge); SIGHUP reloads the registry."""
    registry = load_registry(
        settings.config_dir
    )  # once at start: ingestors never open the warehouse
    ingestor = MqttIngestor(config, registry, LandingZone(settings.landing_root))
    stop = threading.Event()
    reload = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        reload.set()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    log.info(
        "ingesting %s from %s:%s into %s",
        config.topic_filter,
        config.host,
        config.port,
        settings.landing_root,
    )
    ingestor.start()
    last = time.monotonic()
    while not stop.wait(0.2):
        if reload.is_set():
            reload.clear()
            try:
                ingestor.reload_registry(load_registry(settings.config_dir))
                log.info("registry reloaded from %s", settings.config_dir)
            except EnvmonError as exc:
                log.error("registry reload failed, keeping the previous one: %s", exc)
        if stats_every_s and time.monotonic() - last >= stats_every_s:
            last = time.monotonic()
            s = ingestor.stats
            log.info(
                "%d messages, %d readings, %d logger events, %d dead letters, %d batches, %d acked",
                s.messages,
                s.readings,
                s.logger_events,
                s.dead_letters,
                s.batches,
                s.acked,
            )
    log.info("shutting down: flushing and acknowledging")
    ingestor.stop()
    return ingestor
