"""Fixtures of the publishing tests: a real DuckDB warehouse (init + registry, a copy of the
session's template) into which the tests insert derived rows (_publish_helpers); Debian's
Chromium driven by Playwright for the browser tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings


@pytest.fixture
def warehouse(migrated_warehouse: Settings) -> Settings:
    return migrated_warehouse


CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium, which run.sh test installs


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium package is needed (run.sh test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()
