"""warehouse/schema.sql is the schema of a new warehouse (stale = a failure that says how to
refresh it), written the same whichever way the warehouse was made, complete enough to build
the same schema again, and every view of it is defined in warehouse/views/."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from warehouse import schema_dump
from warehouse.db import connect
from warehouse.jobs import init_warehouse
from warehouse.schema_dump import (
    REFRESH_COMMAND,
    SCHEMA_FILE,
    SchemaDumpError,
    fresh_schema_sql,
    schema_sql,
    split_top_level,
    table_sql,
    view_order,
)

VIEWS = Path(schema_dump.__file__).with_name("views")


def test_schema_sql_is_the_schema_of_a_new_warehouse() -> None:
    init_warehouse()  # a new warehouse the way `envmon init` makes it (the test's own home)
    with connect(write=False) as con:
        built = schema_sql(con)
    assert built == fresh_schema_sql()  # what the refresh command writes
    assert SCHEMA_FILE.read_text(encoding="utf-8") == built, (
        f"warehouse/schema.sql is stale (a migration or view changed): run `{REFRESH_COMMAND}`"
    )


def test_schema_sql_builds_the_same_schema_again() -> None:
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    con = duckdb.connect()
    con.execute(text)
    assert schema_sql(con) == text


def test_the_dump_has_tables_constraints_and_every_view() -> None:
    text = fresh_schema_sql()
    assert text == fresh_schema_sql()  # deterministic
    assert "CREATE TABLE schema_migrations (\n    \"version\" INTEGER PRIMARY KEY,\n" in text
    assert "    PRIMARY KEY(site_id, period, period_start)\n);" in text  # air_period_stats
    assert "    logger_mn VARCHAR UNIQUE,\n" in text
    created = re.findall(r"^CREATE VIEW (\w+) AS", text, flags=re.MULTILINE)
    # by name, each after the views it reads: v_readings_qc reads v_review_in_force
    assert created == ["v_latest_readings", "v_people", "v_review_in_force", "v_readings_qc", "v_site_labels"]
    assert "-- v_review_in_force:\n--     review_id VARCHAR\n" in text


def test_every_view_is_defined_in_warehouse_views() -> None:
    defined = {m for path in VIEWS.glob("*.sql")
               for m in re.findall(r"CREATE OR REPLACE VIEW (\w+)", path.read_text(encoding="utf-8"))}
    con = duckdb.connect()
    schema_dump.migrate(con)
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert views == defined


def test_split_top_level_keeps_parentheses_strings_and_quoted_names() -> None:
    assert split_top_level("""a DECIMAL(18,3), b VARCHAR DEFAULT('x,y'), "c,d" INTEGER, PRIMARY KEY(a, b)""") == [
        "a DECIMAL(18,3)", "b VARCHAR DEFAULT('x,y')", '"c,d" INTEGER', "PRIMARY KEY(a, b)"]
    assert split_top_level("x") == ["x"]
    assert split_top_level("""a VARCHAR DEFAULT('it''s, ok'), b INTEGER""") == [
        "a VARCHAR DEFAULT('it''s, ok')", "b INTEGER"]


def test_a_table_is_laid_out_one_column_or_constraint_a_line() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    con.execute("""CREATE TABLE "odd(name" (a DECIMAL(18,3) CHECK (a > 0), b VARCHAR DEFAULT 'x,y' NOT NULL,
                   c INTEGER REFERENCES parent (id), UNIQUE (b, c))""")
    con.execute('CREATE INDEX odd_b ON "odd(name" (b)')
    con.execute("CREATE SEQUENCE ids START 10")
    text = schema_sql(con)
    assert table_sql(con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'odd(name'").fetchone()[0]) in text
    assert """CREATE TABLE "odd(name" (
    a DECIMAL(18,3),
    b VARCHAR DEFAULT('x,y') NOT NULL,
    c INTEGER,
    CHECK((a > 0)),
    FOREIGN KEY (c) REFERENCES parent(id),
    UNIQUE(b, c)
);""" in text
    assert 'CREATE INDEX odd_b ON "odd(name"(b);' in text
    assert text.index('CREATE TABLE "odd(name"') < text.index("CREATE TABLE parent") < text.index("CREATE INDEX")
    assert "CREATE SEQUENCE ids" in text
    with pytest.raises(SchemaDumpError, match="not a CREATE TABLE"):
        table_sql("CREATE TABLE t")


@pytest.mark.parametrize("statement", ["CREATE TYPE mood AS ENUM ('ok', 'bad')", "CREATE MACRO twice(x) AS x * 2"])
def test_an_object_the_dump_does_not_write_is_refused(statement: str) -> None:
    con = duckdb.connect()
    con.execute(statement)
    with pytest.raises(SchemaDumpError, match=r"teach warehouse/schema_dump\.py"):
        schema_sql(con)


def test_the_command_rewrites_a_stale_file_and_check_reports_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "schema.sql"
    target.write_text("-- stale\n", encoding="utf-8")
    monkeypatch.setattr(schema_dump, "SCHEMA_FILE", target)
    assert schema_dump.main(["--check"]) == 1
    assert REFRESH_COMMAND in capsys.readouterr().err
    assert schema_dump.main([]) == 0
    assert target.read_text(encoding="utf-8") == fresh_schema_sql()
    assert schema_dump.main(["--check"]) == 0
    assert schema_dump.main(["--bogus"]) == 2


def test_views_come_by_name_each_after_those_it_reads() -> None:
    assert view_order({"b": "SELECT * FROM a", "a": "SELECT 1", "c": "SELECT 2"}) == ["a", "b", "c"]
    assert view_order({"v_x": "SELECT * FROM v_xy", "v_xy": "SELECT 1", "v_a": "SELECT * FROM v_x"}) == [
        "v_xy", "v_x", "v_a"]
    assert view_order({"v_x": "SELECT 1", "v_xy": "SELECT 1"}) == ["v_x", "v_xy"]  # v_xy does not read v_x
    with pytest.raises(SchemaDumpError, match="read each other"):
        view_order({"a": "SELECT * FROM b", "b": "SELECT * FROM a"})
