"""Fixtures shared by every test: an isolated ENVMON_HOME so no test touches ./var, and a
migrated warehouse built once per session (per xdist worker) and copied into each test's home.

Test files are imported in pytest's importlib mode (pyproject.toml), so two test files may share
a name in different folders. Helper modules beside the tests (`_mqtt_helpers`, `qcdata`, ...)
are imported by their bare name: every folder under tests/ holding one is put on sys.path here,
and two helpers of the same name are refused, so a bare name always means one file.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings, get_settings, load_settings, reset_settings_cache
from warehouse.jobs import init_warehouse, load_registry_job

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SHARED = REPO.parent / "shared"

# Tests that take minutes, started first so that under xdist they do not end the run alone
# (besides those marked `slow`): node-id prefixes, relative to the repository.
LONGEST_FIRST = (
    "tests/dags/test_dag_runs.py",
    "tests/envmon/test_demo_end_to_end.py",
    "tests/ingest/hj212/test_hj212_server_capture.py",
)


def _helper_folders(root: Path) -> list[Path]:
    """Folders under `root` holding importable helper modules (not test_*.py nor conftest.py);
    a helper name used in two folders is an error (a bare import would pick one silently)."""
    seen: dict[str, Path] = {}
    folders: list[Path] = []
    for path in sorted(root.rglob("*.py")):
        if path.name.startswith("test_") or path.name == "conftest.py" or "__pycache__" in path.parts:
            continue
        if path.stem in seen and seen[path.stem] != path:
            raise pytest.UsageError(f"test helper {path.name} exists twice: {seen[path.stem]} and {path}; rename one")
        seen[path.stem] = path
        if path.parent not in folders:
            folders.append(path.parent)
    return folders


def _add_helper_folders() -> None:
    """Appended (never ahead of the product's packages); also the folders of test files that
    other test files import by name (`from test_formats import ...`)."""
    folders = _helper_folders(TESTS)
    folders += sorted({p.parent for p in TESTS.rglob("test_*.py")} - set(folders) - {TESTS})
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))


_add_helper_folders()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of the longest tests first, whole (a module fixture is still built once), in
    their order otherwise: a parallel run (`--dist loadfile`) starts them at once."""

    def file_of(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    longest = {
        file_of(item) for item in items
        if item.get_closest_marker("slow") is not None or item.nodeid.startswith(LONGEST_FIRST)
    }
    items.sort(key=lambda item: file_of(item) not in longest)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own state folder unless it sets ENVMON_HOME itself."""
    home = tmp_path_factory.mktemp("envmon_home")
    monkeypatch.setenv("ENVMON_HOME", str(home))
    for var in ("ENVMON_SETTINGS", "ENVMON_WAREHOUSE", "ENVMON_LANDING", "ENVMON_SITE_DIR", "ENVMON_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def settings() -> Settings:
    return get_settings()


# What a copy of the template home leaves out: the warehouse's lock files.
_NOT_COPIED = shutil.ignore_patterns("*.lock", "*.lock.*")


@pytest.fixture(scope="session")
def warehouse_template(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a home made once per session by `envmon init` + `envmon registry load` of the
    repository's configuration (folders, installation key, migrated warehouse with the registry)."""
    home = tmp_path_factory.mktemp("warehouse_template")
    settings = load_settings({"ENVMON_HOME": str(home)})
    init_warehouse(settings)
    load_registry_job(settings)
    return settings


def same_layout(settings: Settings, template: Settings) -> bool:
    """Whether `settings` is the template's layout (default paths under its home, same config)."""
    home, tpl = Path(settings.home), Path(template.home)
    return (
        Path(settings.warehouse_path) == home / Path(template.warehouse_path).relative_to(tpl)
        and settings.landing_root == str(home / Path(template.landing_root).relative_to(tpl))
        and settings.config_dir == template.config_dir
        and settings.duckdb_temp_dir is None
    )


def install_warehouse(settings: Settings, template: Settings) -> Settings:
    """`envmon init` + `envmon registry load` in `settings`' home: a copy of the template's home
    when the home is new and laid out like it, else the two jobs run for real."""
    home = Path(settings.home)
    fresh = not home.exists() or not any(home.iterdir())
    if fresh and same_layout(settings, template):
        shutil.copytree(template.home, home, ignore=_NOT_COPIED, dirs_exist_ok=True)
    else:
        init_warehouse(settings)
        load_registry_job(settings)
    return settings


@pytest.fixture
def migrated_warehouse(settings: Settings, warehouse_template: Settings) -> Settings:
    """This test's settings, after `envmon init` and `envmon registry load` (a copy of the
    session's template: the same files those two jobs make)."""
    return install_warehouse(settings, warehouse_template)


CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium, which run.sh test installs


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    """Playwright driving Debian's Chromium (the published pages' and the console's tests)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium package is needed (run.sh test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()
