"""The console's tests: a warehouse with two cases and an account per role (_web_helpers),
built once and copied into each test's home; a clock the test moves."""

from __future__ import annotations

import pytest
from _web_helpers import Clock, build_case_home, install

from core.settings import Settings


@pytest.fixture(scope="session")
def case_home(warehouse_template: Settings, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    return build_case_home(warehouse_template, tmp_path_factory.mktemp("web_case_home"))


@pytest.fixture
def wh(case_home: tuple[Settings, str], settings: Settings) -> Settings:
    return install(case_home[0], settings)


@pytest.fixture
def case_id(case_home: tuple[Settings, str]) -> str:
    return case_home[1]


@pytest.fixture
def clock() -> Clock:
    return Clock()
