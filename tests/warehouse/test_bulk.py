"""insert_rows: many rows in one statement, column by column, with the caller's INSERT clause
(OR IGNORE / OR REPLACE honoured); nothing to do for no rows; rows of the wrong width refused."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest

from warehouse.bulk import insert_rows


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (k VARCHAR PRIMARY KEY, v DOUBLE, ts TIMESTAMPTZ, note VARCHAR)")
    return con


def rows_of(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT k, v, ts, note FROM t ORDER BY k").fetchall()


def test_rows_go_in_with_their_types_and_nulls(con: duckdb.DuckDBPyConnection) -> None:
    at = datetime(2026, 3, 1, 8, tzinfo=UTC)
    insert_rows(con, "INSERT INTO t", [("a", 1.5, at, None), ("b", None, None, "x,y")], 4)
    assert rows_of(con) == [("a", 1.5, at, None), ("b", None, None, "x,y")]


def test_the_insert_clause_decides_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    insert_rows(con, "INSERT INTO t", [("a", 1.0, None, "first")], 4)
    insert_rows(con, "INSERT OR IGNORE INTO t", [("a", 2.0, None, "ignored"), ("c", 3.0, None, "new")], 4)
    assert [(k, note) for k, _, _, note in rows_of(con)] == [("a", "first"), ("c", "new")]
    insert_rows(con, "INSERT OR REPLACE INTO t", [("a", 4.0, None, "replaced")], 4)
    assert rows_of(con)[0] == ("a", 4.0, None, "replaced")
    with pytest.raises(duckdb.ConstraintException):
        insert_rows(con, "INSERT INTO t", [("c", 5.0, None, None)], 4)


def test_many_rows_and_no_rows(con: duckdb.DuckDBPyConnection) -> None:
    insert_rows(con, "INSERT INTO t", [], 4)  # no statement at all
    assert rows_of(con) == []
    insert_rows(con, "INSERT INTO t (k, v)", [(f"k{i:05d}", float(i)) for i in range(20_000)], 2)
    assert con.execute("SELECT count(*), sum(v), min(k), max(k) FROM t").fetchone() == (
        20_000, float(sum(range(20_000))), "k00000", "k19999")


def test_rows_of_the_wrong_width_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="INSERT INTO t: rows of 3 values, expected 4"):
        insert_rows(con, "INSERT INTO t", [("a", 1.0, None)], 4)
    with pytest.raises(ValueError):  # rows of different lengths
        insert_rows(con, "INSERT INTO t", [("a", 1.0, None, None), ("b", 2.0, None)], 4)
    assert rows_of(con) == []
