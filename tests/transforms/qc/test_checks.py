"""Every domain check on both sides of its threshold (pure functions, no warehouse)."""

from __future__ import annotations

import numpy as np

from transforms.qc import checks
from transforms.qc.flags import Flag

P, S, F, M = (int(f) for f in Flag)
NAN = np.nan


def series(values: list[float], interval: int = 3600, gaps: tuple[int, ...] = ()) -> tuple[np.ndarray, ...]:
    t = np.arange(len(values), dtype=np.int64) * interval
    for g in gaps:  # a gap before row g
        t[g:] += interval
    new = np.zeros(len(values), dtype=bool)
    new[0] = True
    return np.array(values, dtype=float), t, new


def test_missing() -> None:
    assert checks.missing(np.array([1.0, NAN])).tolist() == [P, M]


def test_gross_range_instrument_and_physical() -> None:
    v = np.array([-0.1, 0.0, 1000.0, 1000.1, 5000.0, 5000.1])
    got = checks.gross_range(v, 0.0, 5000.0, 0.0, 1000.0, Flag.SUSPECT)
    assert got.tolist() == [F, P, P, S, S, F]


def test_gross_range_nan_bounds_switch_off() -> None:
    assert checks.gross_range(np.array([-5.0, 1e9]), NAN, NAN).tolist() == [P, P]


def test_non_positive() -> None:
    v = np.array([-1.0, 0.0, 0.1])
    assert checks.non_positive(v, allow_zero=True).tolist() == [F, P, P]
    assert checks.non_positive(v, allow_zero=False).tolist() == [F, F, P]
    assert checks.non_positive(v, allow_zero=False, enabled=False).tolist() == [P, P, P]


def test_flat_line_at_and_below_threshold() -> None:
    v, t, new = series([1, 5, 5, 5, 5, 2, 7, 7, 7, 3])
    got = checks.flat_line(v, t, 3600, new, periods=4)
    assert got.tolist() == [P, S, S, S, S, P, P, P, P, P]  # run of 4 flagged, run of 3 not


def test_flat_line_tolerance_gap_and_series_boundary() -> None:
    v, t, new = series([5, 5.05, 5.1, 5.1, 9])
    assert checks.flat_line(v, t, 3600, new, periods=4, tolerance=0.05).tolist() == [S, S, S, S, P]
    assert checks.flat_line(v, t, 3600, new, periods=4, tolerance=0.0).tolist() == [P] * 5
    v, t, new = series([5, 5, 5, 5], gaps=(2,))  # a missing period breaks the run
    assert checks.flat_line(v, t, 3600, new, periods=3).tolist() == [P] * 4
    v, t, new = series([5, 5, 5, 5])
    new[2] = True  # two series of 2 equal values each
    assert checks.flat_line(v, t, 3600, new, periods=3).tolist() == [P] * 4


def test_spike_both_sides() -> None:
    # s = |v - (prev+next)/2| - |next-prev|/2: 100.0 and 100.1 above a 10-level baseline
    v, t, new = series([10, 110, 10, 10, 110.1, 10])
    got = checks.spike(v, t, 3600, new, suspect_above=100.0, fail_above=400.0)
    assert got.tolist() == [P, P, P, P, S, P]
    v, t, new = series([10, 420, 10])
    assert checks.spike(v, t, 3600, new, 100.0, 400.0).tolist() == [P, F, P]
    v, t, new = series([10, 420, 10], gaps=(2,))  # no contiguous neighbour: not judged
    assert checks.spike(v, t, 3600, new, 100.0, 400.0).tolist() == [P, P, P]


def test_rate_of_change_per_hour() -> None:
    v, t, new = series([0, 300, 600.5], interval=3600)
    assert checks.rate_of_change(v, t, new, max_per_hour=300.0).tolist() == [P, P, S]
    v, t, new = series([0, 10, 20.1], interval=60)  # per minute: 600/h, 606/h
    assert checks.rate_of_change(v, t, new, max_per_hour=600.0).tolist() == [P, P, S]
    new[1] = True  # never across two series
    assert checks.rate_of_change(v, t, new, max_per_hour=1.0).tolist() == [P, P, S]


def test_source_flag_codes() -> None:
    verdicts = np.array([P, F, S], dtype=np.int8)
    assert checks.source_flag(np.array([0, 1, 2, 0]), verdicts).tolist() == [P, F, S, P]


def test_in_future_and_outside_service() -> None:
    t = np.array([0, 300, 301])
    assert checks.in_future(t, now_s=0, tolerance_s=300).tolist() == [P, P, F]
    assert checks.outside_service(np.array([9, 10, 19, 20]), 10.0, 20.0).tolist() == [F, P, P, F]
    assert checks.outside_service(np.array([9, 10]), NAN, NAN).tolist() == [P, P]


def test_pm25_above_pm10() -> None:
    got = checks.pm25_above_pm10(np.array([50.0, 50.0, 50.1]), np.array([60.0, 50.0, 50.0]))
    assert got.tolist() == [P, P, S]
    assert checks.pm25_above_pm10(np.array([52.0]), np.array([50.0]), tolerance=2.0).tolist() == [P]


def test_o2_correction_needs_valid_o2() -> None:
    # at the cap the correction is made, above it not (the boundary of emissions.o2_corrected)
    has = np.array([True, True, True, True, True, False, True])
    o2 = np.array([8.0, 19.99, 20.0, NAN, 8.0, NAN, 20.01])
    o2_flag = np.array([P, P, P, P, F, P, P])
    got = checks.o2_correction_invalid(has, o2, o2_flag, o2_max_pct=20.0).tolist()
    assert got == [P, P, P, F, F, P, F]
