"""Fixtures for the MQTT tests: a real Mosquitto with persistence, and landing-zone readers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _mqtt_helpers import REPO, LandingReader

from envmon.settings import Settings
from ingest.mqtt.broker import Broker
from warehouse.registry.config import Registry, load_registry


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto on a free loopback port, persistence in tmp; `restart()` keeps the sessions."""
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REPO / "config")


@pytest.fixture
def landing(settings: Settings) -> LandingReader:
    return LandingReader(settings.landing_root)
