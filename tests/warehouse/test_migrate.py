from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from core.errors import MigrationError
from warehouse.migrate import discover, migrate

MIGRATIONS = Path(__file__).resolve().parents[2] / "warehouse" / "migrations"


def test_fresh_database_gets_every_migration(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    applied = migrate(con)
    assert applied == [f"{m.version:04d}_{m.name}" for m in discover()]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for t in ("readings", "load_ledger", "dead_letters", "qc_flags", "review_events", "aggregates",
              "alerts", "cases", "case_events", "sites", "outlets", "grids", "officers", "permit_limits"):
        assert t in tables
    assert con.execute("SELECT count(*) FROM v_latest_readings").fetchone() == (0,)


def test_rerun_is_a_no_op(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con)
    before = con.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
    assert migrate(con) == []
    assert con.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall() == before


def test_edited_migration_is_refused(tmp_path: Path) -> None:
    mdir = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, mdir)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con, migrations_dir=mdir)
    first = sorted(mdir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        migrate(con, migrations_dir=mdir)


def test_new_migration_applies_after_the_landed_ones(tmp_path: Path) -> None:
    mdir = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, mdir)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con, migrations_dir=mdir)
    (mdir / "9999_extra.sql").write_text("CREATE TABLE extra_table (x INTEGER);")
    assert migrate(con, migrations_dir=mdir) == ["9999_extra"]
    assert con.execute("SELECT count(*) FROM extra_table").fetchone() == (0,)


def test_failed_migration_leaves_nothing_behind(tmp_path: Path) -> None:
    mdir = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, mdir)
    (mdir / "9999_broken.sql").write_text("CREATE TABLE half_done (x INTEGER); SELECT * FROM no_such_table;")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(MigrationError, match="9999_broken"):
        migrate(con, migrations_dir=mdir)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "half_done" not in tables
    assert con.execute("SELECT count(*) FROM schema_migrations WHERE version = 9999").fetchone() == (0,)


def test_badly_named_migration_is_refused(tmp_path: Path) -> None:
    mdir = tmp_path / "migrations"
    mdir.mkdir()
    (mdir / "2_Add Thing.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_lower_case_name\.sql"):
        discover(mdir)
