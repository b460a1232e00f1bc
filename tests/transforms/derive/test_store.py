"""transforms.derive.store: the derived-rows writer keeps `aggregates` keys unique without an
index (migration 0081) — a write that would hold a key twice is refused and rolled back whole —
returns the rows written per table, and a job's report adds them up."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from derivedata import query

from transforms.derive.store import DeriveReport, Replace, write
from warehouse.db import connect

T = datetime(2024, 3, 1, 2, tzinfo=UTC)


def _rows(value: float, n: int = 1) -> pl.DataFrame:
    return pl.DataFrame({
        "site_id": ["aotizhongxin"] * n, "parameter": ["pm25"] * n, "statistic": ["hour_avg"] * n,
        "period_start": [T] * n, "interval_s": [3600] * n, "value": [value] * n, "unit": ["ug/m3"] * n,
        "valid": [True] * n, "n_valid": [1] * n, "n_expected": [1] * n, "invalid_reason": [None] * n,
        "edition": [None] * n, "data_status": ["provisional"] * n,
    }, schema_overrides={"period_start": pl.Datetime("us", "UTC"), "invalid_reason": pl.String,
                         "edition": pl.String})  # fmt: skip


def _replace(rows: pl.DataFrame, delete: str) -> Replace:
    return Replace("aggregates", rows, delete, {"t": T} if "$t" in delete else {})


def test_a_key_written_twice_is_refused_and_nothing_is_kept(wh) -> None:  # type: ignore[no-untyped-def]
    replace_hour = "DELETE FROM aggregates WHERE period_start = $t"
    with connect(wh) as con:
        write(con, "hourly", T, T, [_replace(_rows(10.0), replace_hour)], T)
        write(con, "hourly", T, T, [_replace(_rows(11.0), replace_hour)], T)  # replaced: fine
        with pytest.raises(ValueError, match=r"aggregates: key .* would be held 2 times"):
            write(con, "hourly", T, T, [_replace(_rows(12.0, n=2), replace_hour)], T)
        with pytest.raises(ValueError, match="would be held 2 times"):  # the delete missed it
            write(con, "hourly", T, T, [_replace(_rows(13.0), "DELETE FROM aggregates WHERE false")], T)
    assert query(wh, "SELECT value FROM aggregates") == [(11.0,)]
    assert query(wh, "SELECT count(*) FROM derivation_runs") == [(2,)]


def test_the_rows_written_per_table_and_their_sum(wh) -> None:  # type: ignore[no-untyped-def]
    with connect(wh) as con:
        rows = write(con, "hourly", T, T, [
            _replace(_rows(10.0), "DELETE FROM aggregates WHERE period_start = $t"),
            _replace(_rows(10.0).head(0), "DELETE FROM aggregates WHERE false"),
        ], T)  # fmt: skip
    assert rows == {"aggregates": 1}  # per table, over its replacements
    report = DeriveReport("hourly", T, T, {"aggregates": 3, "aqi_hourly": 2})
    assert report.rows_written == 5 and DeriveReport("daily", T, T).rows_written == 0
