"""Fixtures for the MQTT tests: a real Mosquitto with persistence and the registry's accounts
(no anonymous client; a station publishes only to its own topic), and landing-zone readers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from _mqtt_helpers import REPO, SENDER, LandingReader

from core.registry.config import Registry, load_registry
from core.settings import Settings
from ingest.mqtt.accounts import Account, ensure_accounts
from ingest.mqtt.broker import Broker


@pytest.fixture
def broker(tmp_path: Path, settings: Settings, registry: Registry) -> Iterator[Broker]:
    """Mosquitto on a free loopback port, persistence in tmp; `restart()` keeps the sessions.

    Its accounts are the registry's (kept under the test's ENVMON_HOME, where `envmon mqtt run`
    finds the ingestor's) plus SENDER, which may publish anywhere in the tree: the tests of
    the ingestor's decoding send what no station account may send."""
    accounts = ensure_accounts(settings.home, registry).with_account(
        Account(SENDER, secrets.token_urlsafe(12), ("envmon/v1/#",))
    )
    b = Broker(tmp_path / "broker", accounts=accounts)
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REPO / "config")


@pytest.fixture
def landing(settings: Settings) -> LandingReader:
    return LandingReader(settings.landing_root)
