"""QC test fixtures: a real DuckDB warehouse with core + QC migrations and a tiny registry.

Only migration 0001 and the QC migrations (0040-0049) are applied, from a copy, so these tests
do not depend on other areas' migrations in progress. The warehouse is built once per session
and copied into each test's home.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from qcdata import AIR, OUTLET, PARAMETERS, QC_YAML, UNITS, site_row

from core.schema import READINGS_SCHEMA
from core.settings import Settings, get_settings, load_settings, reset_settings_cache
from warehouse.db import connect
from warehouse.migrate import migrate

REPO = Path(__file__).resolve().parents[3]

@pytest.fixture
def qc_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    config = tmp_path / "config"
    config.mkdir()
    (config / "qc.yaml").write_text(QC_YAML, encoding="utf-8")
    monkeypatch.setenv("ENVMON_CONFIG_DIR", str(config))
    reset_settings_cache()
    return get_settings()


@pytest.fixture(scope="session")
def qc_warehouse_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The QC tests' warehouse file, made once: migrations 0001, 004x and 0106, the tiny registry."""
    root = tmp_path_factory.mktemp("qc_warehouse_template")
    migrations = root / "migrations"
    migrations.mkdir()
    for path in (REPO / "warehouse" / "migrations").glob("*.sql"):
        if path.name.startswith(("0001_", "0106_")) or path.name[:3] == "004":  # 0106: day status history
            shutil.copy(path, migrations / path.name)
    views = root / "views"
    views.mkdir()
    settings = load_settings({"ENVMON_HOME": str(root / "home")})
    with connect(settings) as con:
        migrate(con, migrations, views)
        con.executemany("INSERT INTO units VALUES (?, ?, ?, ?)", UNITS)
        con.executemany("INSERT INTO parameters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", PARAMETERS)
        con.executemany("INSERT INTO sites VALUES (" + ", ".join("?" * 16) + ")",
                        [site_row(AIR, "air", date(2020, 1, 1)), site_row(OUTLET, "outlet", date(2024, 1, 10))])
        con.execute("INSERT INTO outlets VALUES (?, 'ent1', 'flue_gas', 6.0, NULL, 'MN1', 'pw', 'HJ212-2017')", [OUTLET])
        con.executemany("INSERT INTO site_parameters (site_id, parameter, interval_s) VALUES (?, ?, ?)",
                        [(AIR, "pm25", 3600), (AIR, "pm10", 3600), (OUTLET, "so2", 3600), (OUTLET, "o2", 3600)])
    return Path(settings.warehouse_path)


@pytest.fixture
def warehouse(qc_settings: Settings, qc_warehouse_template: Path) -> Settings:
    path = Path(qc_settings.warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(qc_warehouse_template, path)
    return qc_settings


@pytest.fixture
def db(warehouse: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(warehouse) as con:
        yield con


AddReadings = Callable[..., str]


@pytest.fixture
def add_readings() -> AddReadings:
    """Insert readings as one loaded batch (readings + load_ledger), returning its batch id."""
    counter = iter(range(10**6))

    def add(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]], batch_id: str | None = None) -> str:
        bid = batch_id or f"b{next(counter):04d}"
        cols = {name: [r.get(name) for r in rows] for name in READINGS_SCHEMA.names}
        table = pa.table(cols, schema=READINGS_SCHEMA.remove_metadata()).append_column(
            "batch_id", pa.array([bid] * len(rows), pa.string()))
        con.register("new_rows", table)
        con.execute("INSERT INTO readings BY NAME SELECT * FROM new_rows")
        con.unregister("new_rows")
        con.execute("INSERT INTO load_ledger VALUES (?, 'readings', 'sim', ?, ?, ?, 0, 0, ?)",
                    [bid, f"readings/{bid}.parquet", len(rows), len(rows), datetime.now(UTC)])
        return bid

    return add
