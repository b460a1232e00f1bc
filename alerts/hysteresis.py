"""The alert state machine as pure functions of plain values: when a series of observations
opens an alert, how a firing alert moves on each later period and when it clears, what a
firing alert records, when it is silenced and when it is notified again.

Nothing here reads or writes the warehouse or looks at the clock: alerts.lifecycle applies
these functions to the observations (alerts.observe) and writes what they decide.

Opening: the period that opens an alert must be exceeded, and with the periods just before it
(contiguous; a bridged period — no data at all — looked through) meet the rule's duration:
`consecutive: N` exceeded in a row, or `at_least: N` exceeded of the last `of_last: M`.
Clearing (hysteresis): a firing alert clears after `clear_after` normal periods in a row; an
exceeded period resets the count; a period without a verdict neither counts nor resets it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar


class Period(Protocol):
    """What the state machine needs of an observation (alerts.observe.Observation)."""

    period_start: datetime
    period_end: datetime
    exceeded: bool | None
    bridge: bool


P = TypeVar("P", bound=Period)


class Move(StrEnum):
    """What one period does to a firing alert."""

    EXCEEDED = "exceeded"  # still exceeded: the normal run starts again
    NORMAL = "normal"  # normal, not yet for long enough to clear
    CLEAR = "clear"  # the clear_after-th normal period in a row: resolved
    NO_VERDICT = "no_verdict"  # nothing said: the alert stays as it is


def run_back(o: P, by_end: Mapping[datetime, P], window: int) -> list[P]:
    """`o` and the periods just before it (contiguous), newest first, at most `window` of
    them. A bridged period is looked through: it neither counts nor breaks the run."""
    chain = [o]
    while len(chain) < window:
        prev = by_end.get(chain[-1].period_start)
        while prev is not None and prev.bridge:
            prev = by_end.get(prev.period_start)
        if prev is None:
            break
        chain.append(prev)
    return chain


def pending(periods: Sequence[P], start: datetime, evaluated_through: datetime | None) -> list[P]:
    """The periods still to evaluate: ending after the window's start and after the series'
    cursor (the end of the last period evaluated), so a period is evaluated once."""
    return [
        o
        for o in periods
        if o.period_end > start and (evaluated_through is None or o.period_end > evaluated_through)
    ]


def duration_met(
    verdicts: Sequence[bool | None], consecutive: int | None, at_least: int | None
) -> bool:
    """Whether the verdicts (newest first, as run_back gives them) open an alert: the newest
    exceeded, and `consecutive` exceeded in a row — or, without it, at least `at_least`
    exceeded among them."""
    if not verdicts or not verdicts[0]:
        return False
    if consecutive is not None:
        return len(verdicts) == consecutive and all(verdicts)
    return at_least is not None and sum(1 for v in verdicts if v) >= at_least


def firing_move(exceeded: bool | None, normal_streak: int, clear_after: int) -> tuple[Move, int]:
    """A firing alert's move on one period, and its normal streak after it."""
    if exceeded:
        return Move.EXCEEDED, 0
    if exceeded is False:
        streak = normal_streak + 1
        return (Move.CLEAR if streak >= clear_after else Move.NORMAL), streak
    return Move.NO_VERDICT, normal_streak


def is_worse(value: float, worst: float | None, comparison: str) -> bool:
    """Whether `value` is worse than the worst so far: lower for a `below` rule, else higher."""
    if worst is None:
        return True
    return value < worst if comparison == "below" else value > worst


def ratio_applies(kind: str, comparison: str | None, statistic: str | None) -> bool:
    """Whether value ÷ limit (the multiple of the limit) means anything: a threshold above a
    limit, not a water class."""
    return kind == "threshold" and comparison == "above" and statistic != "water_class_day"


def alert_id(rule_id: str, site_id: str, parameter: str | None, first_start: datetime) -> str:
    """An alert's id: the same rule, series and first exceeded period give the same alert."""
    key = f"{rule_id}|{site_id}|{parameter or ''}|{first_start.isoformat()}"
    return "A" + hashlib.sha256(key.encode()).hexdigest()[:16]


def evidence(
    o: P, chain: Sequence[P], by_end: Mapping[datetime, P], context_periods: int
) -> list[P]:
    """The periods an opened alert keeps, oldest first: the chain that opened it (with the
    bridged periods between) and up to `context_periods` periods before it."""
    kept = [o]
    while kept[-1] is not chain[-1]:
        before = by_end.get(kept[-1].period_start)
        if before is None:  # pragma: no cover - the chain was walked through by_end
            break
        kept.append(before)
    kept.reverse()
    before = by_end.get(kept[0].period_start)
    for _ in range(context_periods):
        if before is None:
            break
        kept.insert(0, before)
        before = by_end.get(before.period_start)
    return kept


def silenced_by(
    silences: Sequence[tuple[Any, ...]],
    rule_id: str,
    site_id: str,
    parameter: str | None,
    at: datetime,
) -> str | None:
    """The first silence (silence_id, site_id, rule_id, parameter, starts_at, ends_at,
    revoked_at; None matches every site, rule or parameter) in force at `at`, if any."""
    for sid, s_site, s_rule, s_param, starts, ends, revoked in silences:
        if (
            s_site not in (None, site_id)
            or s_rule not in (None, rule_id)
            or s_param not in (None, parameter)
        ):
            continue
        if starts <= at < ends and (revoked is None or at < revoked):
            return sid
    return None


def notification_due(
    at: datetime,
    last_notified: datetime | None,
    repeat_every_h: float | None,
    acknowledged: bool,
) -> str | None:
    """The notification a firing, unsilenced alert is due at `at`: the first ('alert_firing'),
    a repeat ('alert_repeat', every `repeat_every_h` hours until acknowledged) or none."""
    if last_notified is None:
        return "alert_firing"
    if (
        repeat_every_h
        and not acknowledged
        and at - last_notified >= timedelta(hours=repeat_every_h)
    ):
        return "alert_repeat"
    return None
