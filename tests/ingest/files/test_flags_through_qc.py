"""A file's data flags through ingest -> load -> Great Expectations -> QC -> derivation (issue 19).

Item 5: an empty, blank or missing-marker ("NA") flag cell is no flag, so the reading passes QC
(before, '' reached the warehouse, was not in the flag table and every reading failed).
Item 2: a lab result below the detection limit ("0.025L", "<0.025"; HJ/T 91-2002: the limit with
the mark L) lands as the limit with flag BDL, passes QC, and counts at half the limit in the
section's monthly mean (环办监测函〔2020〕82号 point 7, UNCONFIRMED — tables/water_statistics.csv):
NH3-N 0.025L, 0.025L, 0.025L, 0.6 -> (3 x 0.0125 + 0.6) / 4 = 0.159375 mg/L -> GB 3838-2002
Table 1 class II (0.15 < 0.159375 <= 0.5); dropped, the mean would be 0.6 -> class III.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import duckdb
import pytest
from _files_helpers import write
from test_formats import water_lab_sheet

from ingest.files.ingest import ingest_paths
from transforms.derive.monthly_yearly import derive_monthly
from transforms.qc.gx_suite import validate_batches
from transforms.qc.run import run_qc
from warehouse.jobs import load_landing_job

NOW = datetime(2024, 6, 2, tzinfo=UTC)


def _qc(settings, first: date, last: date) -> None:  # type: ignore[no-untyped-def]
    load = load_landing_job(settings)
    assert load.quarantined == []
    assert all(v.success for v in validate_batches(settings, now=NOW))
    run_qc(settings, first, last, now=NOW)


def _verdicts(settings) -> list[tuple]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("""SELECT site_id, parameter, value, flag, qc_verdict, valid FROM v_readings_qc
                              ORDER BY site_id, parameter, period_start""").fetchall()


def test_empty_blank_and_na_flag_cells_are_no_flag_and_pass_qc(migrated_warehouse, tmp_path: Path) -> None:
    settings = migrated_warehouse
    path = write(tmp_path / "export.csv", (
        "site_id,parameter,period_start,value,unit,flag\n"
        "dongsi,pm25,2024-05-01T08:00,35,ug/m3,\n"  # empty
        "dongsi,pm25,2024-05-01T09:00,38,ug/m3,   \n"  # blank
        "dongsi,pm25,2024-05-01T10:00,36,ug/m3,NA\n"  # the profile's missing marker
        'dongsi,pm25,2024-05-01T11:00,37,ug/m3,""\n'  # quoted empty
        "dongsi,pm25,2024-05-01T12:00,39,ug/m3,N\n"
    ))
    (f,) = ingest_paths([path]).files
    assert (f.status, f.profile, f.readings, f.bad_rows) == ("ingested", "generic_long_csv", 5, [])
    _qc(settings, date(2024, 5, 1), date(2024, 5, 1))
    got = _verdicts(settings)
    assert [(v, flag, verdict, valid) for *_, v, flag, verdict, valid in got] == [
        (35.0, None, "pass", True), (38.0, None, "pass", True), (36.0, None, "pass", True),
        (37.0, None, "pass", True), (39.0, "N", "pass", True),
    ]


@pytest.fixture
def lab_month(migrated_warehouse, tmp_path: Path):  # type: ignore[no-untyped-def]
    """May 2024 lab results: 潮白河顺义 (river, target III) NH3-N 0.025L, <0.025, 0.025L, 0.6;
    温榆河沙河闸断面 (river) NH3-N below the limit in both samples; other cells not measured."""
    rows = []
    for i, (day, nh3n) in enumerate([(6, "0.025L"), (13, "<0.025"), (20, "0.025L"), (27, 0.6)]):
        rows.append([i, "潮白河顺义", date(2024, 5, day), time(9, 0), "/", "/", "/", "/", "/", nh3n, "/", "/", f"S{i}", None])
    for i, day in enumerate([6, 20]):
        rows.append([9 + i, "温榆河沙河闸断面", date(2024, 5, day), time(10, 0), "/", "/", "/", "/", "/", "0.025L", "/", "/",
                     f"W{i}", None])
    path = water_lab_sheet(tmp_path / "2024年5月水质.xlsx", rows)
    (f,) = ingest_paths([path]).files
    assert (f.status, f.profile, f.readings, f.bad_rows) == ("ingested", "water_lab_xlsx", 6, [])
    _qc(migrated_warehouse, date(2024, 5, 1), date(2024, 5, 31))
    return migrated_warehouse


def test_results_below_the_detection_limit_pass_qc(lab_month) -> None:  # type: ignore[no-untyped-def]
    got = _verdicts(lab_month)
    assert [(s, v, flag, verdict, valid) for s, _, v, flag, verdict, valid in got] == [
        ("ws_chaobai_shunyi", 0.025, "BDL", "pass", True), ("ws_chaobai_shunyi", 0.025, "BDL", "pass", True),
        ("ws_chaobai_shunyi", 0.025, "BDL", "pass", True), ("ws_chaobai_shunyi", 0.6, None, "pass", True),
        ("ws_wenyu_changping", 0.025, "BDL", "pass", True), ("ws_wenyu_changping", 0.025, "BDL", "pass", True),
    ]


def test_the_month_counts_them_at_half_the_limit_and_says_which(lab_month) -> None:  # type: ignore[no-untyped-def]
    derive_monthly(lab_month, date(2024, 5, 1), now=NOW)
    with duckdb.connect(str(lab_month.warehouse_path), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            """SELECT site_id, water_class, compliant, limiting_parameters, below_detection_counts, not_detected_limits
               FROM water_class WHERE period = 'month' AND period_start = DATE '2024-05-01'""").fetchall()}
        means = dict(con.execute(
            """SELECT site_id, value FROM aggregates
               WHERE parameter = 'nh3n' AND statistic = 'month_avg'""").fetchall())
    # (3 x 0.0125 + 0.6) / 4 = 0.159375: class II (0.15 < x <= 0.5), within the target III
    assert rows["ws_chaobai_shunyi"] == ("II", True, "nh3n", "nh3n=3/4", None)
    assert means["ws_chaobai_shunyi"] == pytest.approx(0.159375, abs=1e-12)
    # every result below the limit: mean 0.0125 (class I, nothing limiting), shown as not detected (< 0.025)
    assert rows["ws_wenyu_changping"] == ("I", True, None, "nh3n=2/2", "nh3n=0.025")
    assert means["ws_wenyu_changping"] == pytest.approx(0.0125, abs=1e-12)
