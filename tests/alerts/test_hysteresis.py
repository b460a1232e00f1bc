"""The alert state machine on plain values: opening on both sides of the duration, the hold
count of the hysteresis on both sides of clear_after, silences, repeats, evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from alerts.hysteresis import (
    Move,
    alert_id,
    duration_met,
    evidence,
    firing_move,
    is_worse,
    notification_due,
    pending,
    ratio_applies,
    run_back,
    silenced_by,
)

T0 = datetime(2025, 3, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class P:
    """An hourly period with a verdict (what alerts.observe.Observation gives)."""

    period_start: datetime
    exceeded: bool | None
    bridge: bool = False

    @property
    def period_end(self) -> datetime:
        return self.period_start + H


def series(*verdicts: bool | str | None) -> list[P]:
    """Hourly periods from T0; 'b' is a bridged hour (no data at all: no verdict)."""
    return [
        P(T0 + H * i, None, True) if v == "b" else P(T0 + H * i, v)  # type: ignore[arg-type]
        for i, v in enumerate(verdicts)
    ]


def by_end(periods: list[P]) -> dict[datetime, P]:
    return {p.period_end: p for p in periods}


# ---------------------------------------------------------------- opening: the duration
@pytest.mark.parametrize(
    ("verdicts", "consecutive", "at_least", "opens"),
    [
        ([True], 1, None, True),
        ([False], 1, None, False),
        ([None], 1, None, False),
        ([True, True, True], 3, None, True),  # three in a row: at the duration
        ([True, True], 3, None, False),  # one short (the run starts after a gap)
        ([True, True, False], 3, None, False),  # a normal period breaks the run
        ([True, None, True], 3, None, False),  # so does a period without a verdict
        ([False, True, True], 3, None, False),  # the newest period must be exceeded
        ([True, False, True], None, 2, True),  # 2 of the last 3: at the count
        ([True, False, False], None, 2, False),  # 1 of 3: below it
        ([True, None, True], None, 2, True),  # no verdict counts as not exceeded
        ([False, True, True], None, 2, False),  # the newest must be exceeded
        ([], 1, None, False),
    ],
)
def test_duration_met_both_sides(verdicts, consecutive, at_least, opens):
    assert duration_met(verdicts, consecutive, at_least) is opens


def test_run_back_walks_contiguous_periods_and_looks_through_bridges():
    s = series(True, "b", True, True)
    chain = run_back(s[3], by_end(s), 3)
    assert [p.period_start for p in chain] == [T0 + 3 * H, T0 + 2 * H, T0]  # the bridge skipped
    assert duration_met([p.exceeded for p in chain], 3, None) is True
    gap = [s[0], s[2], s[3]]  # hour 1 missing altogether: the run stops there
    assert [p.period_start for p in run_back(gap[2], by_end(gap), 3)] == [T0 + 3 * H, T0 + 2 * H]
    assert len(run_back(s[3], by_end(s), 1)) == 1  # never longer than the window


def test_pending_skips_what_the_cursor_says_was_evaluated():
    s = series(True, True, True, True)
    assert pending(s, T0 + H, None) == s[1:]  # ends after the window's start (T0 + 1 h)
    assert pending(s, T0, T0 + 3 * H) == s[3:]  # and after the cursor
    assert pending(s, T0, T0 + 4 * H) == []


# ---------------------------------------------------------------- hysteresis: the hold count
def test_firing_move_clears_after_k_normal_periods_not_before():
    assert firing_move(False, 0, 2) == (Move.NORMAL, 1)  # one normal period: still firing
    assert firing_move(False, 1, 2) == (Move.CLEAR, 2)  # the second in a row clears
    assert firing_move(False, 0, 1) == (Move.CLEAR, 1)  # clear_after 1: the first clears
    assert firing_move(True, 1, 2) == (Move.EXCEEDED, 0)  # an exceedance resets the count
    assert firing_move(None, 1, 2) == (Move.NO_VERDICT, 1)  # no verdict: neither counts nor resets


def test_firing_move_over_a_series():
    streak, moves = 0, []
    for verdict in [True, False, None, True, False, None, False]:
        move, streak = firing_move(verdict, streak, 2)
        moves.append(move)
    assert moves == [
        Move.EXCEEDED,
        Move.NORMAL,
        Move.NO_VERDICT,
        Move.EXCEEDED,
        Move.NORMAL,
        Move.NO_VERDICT,
        Move.CLEAR,  # two normal periods in a row, the no-verdict one between them aside
    ]


# ---------------------------------------------------------------- what a firing alert records
def test_is_worse_by_comparison():
    assert is_worse(70.0, None, "above")
    assert is_worse(70.0, 60.0, "above") and not is_worse(60.0, 60.0, "above")
    assert is_worse(4.0, 5.0, "below") and not is_worse(5.0, 5.0, "below")
    assert is_worse(9.5, 9.0, "outside")  # a range: the higher value is kept


def test_ratio_applies_to_thresholds_above_a_limit_only():
    assert ratio_applies("threshold", "above", "hour_avg_o2")
    assert not ratio_applies("threshold", "below", "day_avg")
    assert not ratio_applies("threshold", "above", "water_class_day")  # ranks, not amounts
    assert not ratio_applies("flat_line", None, None)


def test_alert_id_is_stable_per_rule_series_and_first_period():
    a = alert_id("r", "s", "so2", T0)
    assert a == alert_id("r", "s", "so2", T0) and a.startswith("A") and len(a) == 17
    assert a != alert_id("r", "s", "so2", T0 + H)
    assert a != alert_id("r", "s", "nox", T0)
    assert alert_id("r", "s", None, T0) == alert_id("r", "s", "", T0)


def test_evidence_keeps_the_chain_with_bridges_and_the_context_before():
    s = series(False, False, True, "b", True)
    chain = run_back(s[4], by_end(s), 2)
    assert [p.period_start for p in evidence(s[4], chain, by_end(s), 1)] == [
        T0 + H,  # one period of context before the first exceedance
        T0 + 2 * H,
        T0 + 3 * H,  # the bridged hour between the exceeded ones
        T0 + 4 * H,
    ]
    assert len(evidence(s[4], chain, by_end(s), 5)) == 5  # no more context than there is
    assert evidence(s[4], chain, by_end(s), 0)[0] is s[2]


# ---------------------------------------------------------------- silences and notifications
def test_silenced_by_matches_scope_and_time():
    silences = [
        ("S1", "site_a", None, None, T0, T0 + 2 * H, None),
        ("S2", None, "rule_b", "so2", T0, T0 + 2 * H, T0 + H),  # revoked after an hour
    ]
    assert silenced_by(silences, "rule_x", "site_a", "nox", T0) == "S1"  # starts: included
    assert silenced_by(silences, "rule_x", "site_a", "nox", T0 + 2 * H) is None  # ends: excluded
    assert silenced_by(silences, "rule_x", "site_b", "nox", T0) is None
    assert silenced_by(silences, "rule_b", "site_b", "so2", T0) == "S2"
    assert silenced_by(silences, "rule_b", "site_b", "nox", T0) is None  # another parameter
    assert silenced_by(silences, "rule_b", "site_b", "so2", T0 + H) is None  # revoked


def test_notification_due_first_then_every_repeat_until_acknowledged():
    assert notification_due(T0, None, 6, acknowledged=False) == "alert_firing"
    assert notification_due(T0 + 5 * H, T0, 6, acknowledged=False) is None  # before the repeat
    assert notification_due(T0 + 6 * H, T0, 6, acknowledged=False) == "alert_repeat"  # at it
    assert notification_due(T0 + 6 * H, T0, 6, acknowledged=True) is None
    assert notification_due(T0 + 99 * H, T0, None, acknowledged=False) is None  # no repeats
    assert notification_due(T0, None, 6, acknowledged=True) == "alert_firing"
