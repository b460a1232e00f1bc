"""transforms.derive.water_noise water_means / water_rows with results below the detection limit
(flag BDL, value = the limit; issue 19 item 2). A result below the limit counts as half of it
(tables/water_statistics.csv: 环办监测函〔2020〕82号 point 7, UNCONFIRMED); GB 3838-2002 Table 1
NH3-N class I <= 0.15, II <= 0.5 mg/L; TP (river) class I <= 0.02, II <= 0.1 mg/L."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from derivedata import network, reading

from transforms.derive import water_noise
from warehouse.db import connect

T0 = datetime(2024, 2, 29, 16, tzinfo=UTC)  # local midnight of 2024-03-01 (Asia/Shanghai)
HOUR = timedelta(hours=1)
NET = network(
    [("ws_chaobai_shunyi", "water"), ("ws_yongding", "water")],
    water={"ws_chaobai_shunyi": ("river", "III"), "ws_yongding": ("river", "III")},
)


def _lab(site: str, parameter: str, values: list[tuple[float, bool]]) -> list[dict]:
    """Grab samples 4 h apart: (value, below the detection limit)."""
    out = []
    for i, (v, below) in enumerate(values):
        r = reading(site, parameter, T0 + i * 4 * HOUR, v, "mg/L", interval_s=0, source_kind="lab")
        out.append({**r, "flag": "BDL" if below else None})
    return out


def test_means_count_below_limit_results_at_half_and_say_how_many(wh, insert) -> None:  # type: ignore[no-untyped-def]
    rows = _lab("ws_chaobai_shunyi", "nh3n", [(0.025, True), (0.025, True), (0.025, True), (0.6, False)])
    rows += _lab("ws_yongding", "nh3n", [(0.025, True), (0.05, True)])  # two limits: the higher is named
    rows += _lab("ws_yongding", "tp", [(0.01, True), (0.05, False)])  # (0.005 + 0.05) / 2 = 0.0275
    insert(rows, T0, T0 + 24 * HOUR)
    with connect(wh, write=False) as con:
        means = water_noise.water_means(con, ["ws_chaobai_shunyi", "ws_yongding"], T0, T0 + 24 * HOUR)
    got = {(r["site_id"], r["parameter"]): r for r in means.iter_rows(named=True)}
    a = got["ws_chaobai_shunyi", "nh3n"]
    assert a["value"] == pytest.approx(0.159375, abs=1e-15)  # (3 x 0.0125 + 0.6) / 4
    assert (a["n_valid"], a["n_below_detection"], a["detection_limit"]) == (4, 3, 0.025)
    b = got["ws_yongding", "nh3n"]
    assert b["value"] == pytest.approx(0.01875, abs=1e-15)  # (0.0125 + 0.025) / 2
    assert (b["n_valid"], b["n_below_detection"], b["detection_limit"]) == (2, 2, 0.05)
    assert got["ws_yongding", "tp"]["value"] == pytest.approx(0.0275, abs=1e-15)

    rows_out = water_noise.water_rows(means, NET, "day", date(2024, 3, 1))
    assert rows_out.columns == water_noise.WATER_COLUMNS
    by_site = {r["site_id"]: r for r in rows_out.iter_rows(named=True)}
    a_row, b_row = by_site["ws_chaobai_shunyi"], by_site["ws_yongding"]
    assert (a_row["water_class"], a_row["below_detection_counts"], a_row["not_detected_limits"]) == (
        "II", "nh3n=3/4", None)  # 0.159375: just above class I's 0.15
    # nh3n 0.01875 (I), tp 0.0275 (II: 0.02 < x <= 0.1); nh3n was never detected (< 0.05)
    assert (b_row["water_class"], b_row["limiting_parameters"]) == ("II", "tp")
    assert (b_row["below_detection_counts"], b_row["not_detected_limits"]) == ("nh3n=2/2;tp=1/2", "nh3n=0.05")


def test_no_below_limit_results_leave_the_columns_empty(wh, insert) -> None:  # type: ignore[no-untyped-def]
    insert(_lab("ws_chaobai_shunyi", "nh3n", [(0.5, False), (0.5, False)]), T0, T0 + 24 * HOUR)
    with connect(wh, write=False) as con:
        means = water_noise.water_means(con, ["ws_chaobai_shunyi"], T0, T0 + 24 * HOUR)
    assert means.row(0, named=True)["n_below_detection"] == 0 and means["detection_limit"][0] is None
    r = water_noise.water_rows(means, NET, "day", date(2024, 3, 1)).row(0, named=True)
    assert (r["water_class"], r["below_detection_counts"], r["not_detected_limits"]) == ("II", None, None)  # 0.5: at II's limit
