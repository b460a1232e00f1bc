"""The real Beijing data set: all 12 files ingested and loaded; counts checked independently."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ingest.files.ingest import ingest_paths
from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "beijing_prsa"
POLLUTANTS = ("PM2.5", "PM10", "SO2", "NO2", "CO", "O3")


def _independent_count(files: list[Path]) -> int:
    """Non-NA pollutant cells, counted with the csv module (no code shared with the ingestor)."""
    total = 0
    for path in files:
        with io.TextIOWrapper(gzip.open(path), encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                total += sum(1 for p in POLLUTANTS if row[p] not in ("NA", ""))
    return total


@pytest.mark.slow
@pytest.mark.skipif(not DATA.is_dir(), reason="shared Beijing data set not present")
def test_all_twelve_files_ingest_and_load_exactly(settings) -> None:
    files = sorted(DATA.glob("PRSA_Data_*.csv.gz"))
    assert len(files) == 12
    report = ingest_paths(files)
    assert [f.status for f in report.files] == ["ingested"] * 12
    assert {f.profile for f in report.files} == {"beijing_prsa"}
    assert report.rows == 420_768 and report.bad_rows == []
    expected = _independent_count(files)
    assert report.readings == expected

    init_warehouse(settings)
    load_registry_job(settings)
    load = load_landing_job(settings)
    assert (load.rows_inserted, load.rows_duplicate, load.rows_conflict, load.quarantined) == (expected, 0, 0, [])

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        assert con.execute("SELECT count(*) FROM readings").fetchone()[0] == expected

        def one(site: str, parameter: str, at: datetime) -> tuple:
            return con.execute(
                "SELECT value, unit, interval_s, source_kind FROM readings WHERE site_id = ? AND parameter = ? AND period_start = ?",
                [site, parameter, at]).fetchall()

        # first row of Aotizhongxin: 2013-03-01 hour 0 local = 2013-02-28 16:00 UTC; CO 300 ug/m3 -> 0.3 mg/m3
        assert one("aotizhongxin", "co", datetime(2013, 2, 28, 16, tzinfo=UTC)) == [(0.3, "mg/m3", 3600, "file")]
        assert one("aotizhongxin", "pm25", datetime(2013, 2, 28, 16, tzinfo=UTC)) == [(4.0, "ug/m3", 3600, "file")]
        # a non-integer value kept as is, and an NA cell that became no reading
        at = datetime(2013, 7, 30, 7, tzinfo=UTC)
        assert one("shunyi", "o3", at) == [(351.7164, "ug/m3", 3600, "file")]
        assert one("shunyi", "co", at) == []
        # last row of Wanshouxigong: CO 600 -> 0.6 mg/m3
        assert one("wanshouxigong", "co", datetime(2017, 2, 28, 15, tzinfo=UTC)) == [(0.6, "mg/m3", 3600, "file")]
        co_max = con.execute("SELECT max(value) FROM readings WHERE parameter = 'co'").fetchone()[0]
        assert co_max == 10.0  # the 10000 ug/m3 ceiling of the source
        origin = con.execute(
            "SELECT origin FROM readings WHERE site_id = 'wanshouxigong' AND parameter = 'co' ORDER BY period_start DESC LIMIT 1"
        ).fetchone()[0]
        assert origin.endswith("PRSA_Data_Wanshouxigong_20130301-20170228.csv.gz:35065")

    again = ingest_paths(files)
    assert [f.status for f in again.files] == ["duplicate"] * 12
