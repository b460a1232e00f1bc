"""Whole ids from what a person typed (warehouse.ids.resolve_id)."""

from __future__ import annotations

import duckdb
import pytest

from warehouse.ids import UnknownIdError, resolve_id


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE cases (case_id VARCHAR)")
    con.execute("INSERT INTO cases VALUES ('C20261201-ab12cd34'), ('C20261201-ab98ff00'), ('C20261202-0f0f0f0f')")
    return con


def test_the_whole_id_or_a_unique_prefix(con: duckdb.DuckDBPyConnection) -> None:
    assert resolve_id(con, "cases", "case_id", "C20261202-0f0f0f0f", "case") == "C20261202-0f0f0f0f"
    assert resolve_id(con, "cases", "case_id", "C20261202", "case") == "C20261202-0f0f0f0f"
    assert resolve_id(con, "cases", "case_id", "c20261201-ab1", "case") == "C20261201-ab12cd34"  # any case


def test_an_ambiguous_prefix_names_the_candidates(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UnknownIdError) as err:
        resolve_id(con, "cases", "case_id", "C20261201-ab", "case")
    assert "C20261201-ab12cd34, C20261201-ab98ff00" in str(err.value) and "give more of it" in str(err.value)


def test_no_match_and_empty_input_refused(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(UnknownIdError, match=r"no case 'X1' \(see `envmon cases list`\)"):
        resolve_id(con, "cases", "case_id", "X1", "case", "see `envmon cases list`")
    with pytest.raises(UnknownIdError, match="no case id given"):
        resolve_id(con, "cases", "case_id", " ", "case")
    # a prefix is a prefix: characters LIKE would read as wildcards match nothing
    with pytest.raises(UnknownIdError):
        resolve_id(con, "cases", "case_id", "%", "case")
