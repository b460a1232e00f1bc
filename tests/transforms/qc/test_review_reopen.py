"""Reviews and day status at their root (transforms.qc.review / status): a review over a range
with no readings is refused naming the nearest ones; a flag, unflag or revert over an audited day
re-opens it (and auto-audit leaves it to a person); audits are appended, not overwritten; a day
not yet ended is not audited; a review is reverted by a unique prefix of its id."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from qcdata import AIR, reading

from core.periods import PeriodNotEndedError
from core.settings import Settings
from transforms.qc.review import ReviewError, record_review, revert_review
from transforms.qc.status import audit_day, auto_audit_on, data_status_for, day_history
from warehouse.db import connect

MIDNIGHT_0301 = datetime(2024, 2, 29, 16, tzinfo=UTC)  # 2024-03-01 00:00 in Beijing
NOW = datetime(2024, 3, 10, tzinfo=UTC)


@pytest.fixture
def two_days(warehouse: Settings, add_readings) -> Settings:  # type: ignore[no-untyped-def]
    """air_a pm10 hourly on 03-01 and 03-03 (local); nothing on 03-02."""
    with connect(warehouse) as con:
        add_readings(con, [reading(AIR, "pm10", MIDNIGHT_0301 + timedelta(days=d, hours=h), 40.0)
                           for d in (0, 2) for h in range(24)])
    return warehouse


def test_a_review_without_readings_is_refused_naming_the_nearest(two_days: Settings) -> None:
    day2 = MIDNIGHT_0301 + timedelta(days=1)
    with connect(two_days) as con:
        with pytest.raises(ReviewError, match=(
                r"^no readings of air_a from 2024-03-02 08:00\+08:00 to 2024-03-02 10:00\+08:00: nothing to flag; "
                r"its nearest readings: 2024-03-01 23:00\+08:00 \(before\), 2024-03-03 00:00\+08:00 \(after\)$")):
            record_review(con, "flag", AIR, None, day2 + timedelta(hours=8), day2 + timedelta(hours=10), "x", "li", at=NOW)
        with pytest.raises(ReviewError, match=r"no readings of air_a pm25 .* air_a pm25 has no readings at all"):
            record_review(con, "unflag", AIR, "pm25", MIDNIGHT_0301, day2, "x", "li", at=NOW)
        # one reading inside the range is enough (the last hour of 03-01)
        record_review(con, "flag", AIR, "pm10", day2 - timedelta(hours=1), day2 + timedelta(hours=10), "x", "li", at=NOW)


def test_flag_unflag_and_revert_reopen_audited_days(two_days: Settings) -> None:
    with connect(two_days) as con:
        audit_day(con, AIR, date(2024, 3, 1), "wang", "looked at it", at=NOW)
        audit_day(con, AIR, date(2024, 3, 3), "wang", at=NOW)
        flag = record_review(con, "flag", AIR, "pm10", MIDNIGHT_0301 + timedelta(hours=5),
                             MIDNIGHT_0301 + timedelta(hours=6), "drift", "li", at=NOW + timedelta(hours=1))
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "provisional"
        assert data_status_for(con, AIR, date(2024, 3, 3)) == "audited"  # not touched
        # auto-audit does not audit a re-opened day again: a person does
        assert auto_audit_on(con, date(2024, 3, 9), 3).audited == []
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "provisional"
        audit_day(con, AIR, date(2024, 3, 1), "wang", "drift flagged", at=NOW + timedelta(hours=2))
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "audited"
        revert_review(con, flag.review_id[:10], "drift disproved", "li", at=NOW + timedelta(hours=3))  # a prefix
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "provisional"
        history = day_history(con, AIR, date(2024, 3, 1))
    assert [(h.status, h.status_by, h.note) for h in history] == [
        ("audited", "wang", "looked at it"),
        ("reopened", "li", f"re-opened by review {flag.review_id}"),
        ("audited", "wang", "drift flagged"),
        ("reopened", "li", f"re-opened by review {history[-1].review_id}"),
    ]
    assert history[1].review_id == flag.review_id and history[-1].review_id != flag.review_id


def test_auto_audit_leaves_a_reopened_day_to_a_person(two_days: Settings) -> None:
    with connect(two_days) as con:
        audit_day(con, AIR, date(2024, 3, 1), "wang", at=NOW)
        record_review(con, "unflag", AIR, None, MIDNIGHT_0301, MIDNIGHT_0301 + timedelta(hours=1), "ok", "li", at=NOW)
        report = auto_audit_on(con, date(2024, 3, 9), 3)
        assert (AIR, date(2024, 3, 1)) not in report.audited
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "provisional"


def test_audit_refuses_a_day_not_yet_ended(two_days: Settings) -> None:
    with connect(two_days) as con:
        at = MIDNIGHT_0301 + timedelta(hours=23, minutes=59)  # 03-01 23:59 local
        with pytest.raises(PeriodNotEndedError, match=r"the day 2024-03-01 of air_a .* has not ended"):
            audit_day(con, AIR, date(2024, 3, 1), "wang", at=at)
        audit_day(con, AIR, date(2024, 3, 1), "wang", at=at + timedelta(minutes=1))  # midnight: ended
        assert data_status_for(con, AIR, date(2024, 3, 1)) == "audited"
