"""Results below the detection limit in a water section's period mean (issue 19 item 2).

Rule (tables/water_statistics.csv): 《地表水环境质量监测数据统计技术规定（试行）》环办监测函〔2020〕82号
point 7 — "当监测数据低于检出限时，以1/2检出限值参与计算和统计" (a result below the limit counts as
half the limit) [UNCONFIRMED: quoted by secondary sources; the 2011 evaluation method
环办〔2011〕22号 is not known to state it]. The stored value of such a result is the limit
(HJ/T 91-2002: report the limit with the mark L), flag BDL.
Class limits: GB 3838-2002 Table 1 item 7, NH3-N class I <= 0.15, II <= 0.5, III <= 1.0 mg/L.
Hand-worked cases below; each boundary from both sides.
"""

from __future__ import annotations

import pytest

from transforms.standards import tables
from transforms.standards.water import (
    below_detection_factor,
    below_detection_text,
    not_detected,
    not_detected_text,
    parameter_class,
    period_mean,
)

DL = 0.025  # mg/L, the NH3-N detection limit of the issue's example


def test_the_factor_is_the_tables_cited_row() -> None:
    row = tables.one("water_statistics", rule="below_detection_factor")
    assert row["value"] == "0.5" and "环办监测函〔2020〕82号" in row["edition"] and "第七点" in row["clause"]
    assert row["status"].startswith("UNCONFIRMED")
    assert below_detection_factor() == 0.5


def test_the_issues_section_is_class_ii_not_iii() -> None:
    # 0.025L, 0.025L, 0.025L, 0.6: (3 x 0.0125 + 0.6) / 4 = 0.6375 / 4 = 0.159375
    mean = period_mean([DL, DL, DL, 0.6], [True, True, True, False])
    assert mean == pytest.approx(0.159375, abs=1e-15)
    assert parameter_class("nh3n", mean) == "II"
    # what dropping them gave (the bug): 0.6 -> class III
    assert parameter_class("nh3n", period_mean([0.6], [False])) == "III"


@pytest.mark.parametrize(
    ("last", "mean", "cls"),
    [
        # class I/II boundary 0.15: (0.0375 + x) / 4 = 0.15 <=> x = 0.5625
        (0.5625, 0.15, "I"),  # exactly the class-I limit: class I
        (0.5629, 0.1501, "II"),  # just above it: class II
        # class II/III boundary 0.5: (0.0375 + x) / 4 = 0.5 <=> x = 1.9625
        (1.9625, 0.5, "II"),  # exactly the class-II limit: class II
        (1.9629, 0.5001, "III"),  # just above it: class III
    ],
)
def test_both_sides_of_the_class_limits(last: float, mean: float, cls: str) -> None:
    got = period_mean([DL, DL, DL, last], [True, True, True, False])
    assert got == pytest.approx(mean, abs=1e-12)
    assert parameter_class("nh3n", got) == cls


def test_a_result_below_the_limit_is_half_of_it_a_result_at_the_limit_is_itself() -> None:
    assert period_mean([DL], [True]) == 0.0125  # "0.025L"
    assert period_mean([DL], [False]) == 0.025  # 0.025 measured
    assert period_mean([], []) is None
    with pytest.raises(ValueError, match="2 values but 1 below-detection marks"):
        period_mean([DL, DL], [True])


@pytest.mark.parametrize(
    ("n_below", "n_valid", "shown"),
    [
        (4, 4, "未检出 (<0.025 mg/L)"),  # every result below the limit: not detected
        (3, 4, None),  # one detected: the mean (0.159375) is shown
        (0, 4, None),
        (0, 0, None),  # no result: nothing to say here (no value)
    ],
)
def test_not_detected_only_when_every_result_was_below(n_below: int, n_valid: int, shown: str | None) -> None:
    assert not_detected(n_below, n_valid) is (shown is not None)
    assert below_detection_text(n_below, n_valid, DL, "mg/L") == shown


def test_not_detected_text_without_unit_or_limit() -> None:
    assert below_detection_text(2, 2, 0.01) == "未检出 (<0.01)"
    assert below_detection_text(2, 2, None) == "未检出"
    # from a water_class row's not_detected_limits 'nh3n=0.025'
    assert not_detected_text(float("0.025"), "mg/L") == "未检出 (<0.025 mg/L)"
