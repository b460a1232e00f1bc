"""Staff review events override QC verdicts; later events win; a revert cancels its event."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from qcdata import AIR, reading

from core.settings import Settings
from transforms.qc.review import ReviewError, list_reviews, record_review, revert_review
from transforms.qc.run import run_qc
from warehouse.db import connect

T0 = datetime(2024, 3, 1, tzinfo=UTC)
AT = datetime(2024, 3, 2, tzinfo=UTC)


def _verdicts(con) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(r[0], r[1]) for r in con.execute(
        "SELECT qc_verdict, effective_verdict FROM v_readings_qc WHERE parameter = 'pm25' ORDER BY period_start").fetchall()]


@pytest.fixture
def qc_done(warehouse: Settings, add_readings) -> Settings:  # type: ignore[no-untyped-def]
    with connect(warehouse) as con:
        add_readings(con, [reading(AIR, "pm25", T0 + timedelta(hours=i), v) for i, v in enumerate([10, 12, 2000, 11])])
    run_qc(warehouse, date(2024, 3, 1), date(2024, 3, 1), now=AT)
    return warehouse


def test_flag_unflag_later_wins_and_revert(qc_done: Settings) -> None:
    with connect(qc_done) as con:
        assert _verdicts(con) == [("pass", "pass"), ("pass", "pass"), ("fail", "fail"), ("suspect", "suspect")]
        flag = record_review(con, "flag", AIR, "pm25", T0, T0 + timedelta(hours=2), "analyser drift", "wang", at=AT)
        assert [v[1] for v in _verdicts(con)] == ["fail", "fail", "fail", "suspect"]
        unflag = record_review(con, "unflag", AIR, None, T0 + timedelta(hours=1), T0 + timedelta(hours=3),
                               "dust storm confirmed", "li", at=AT + timedelta(hours=1))
        assert [v[1] for v in _verdicts(con)] == ["fail", "pass", "pass", "suspect"]
        assert [v[0] for v in _verdicts(con)] == ["pass", "pass", "fail", "suspect"]  # QC verdicts untouched
        revert_review(con, unflag.review_id, "wrong station", "li", at=AT + timedelta(hours=2))
        assert [v[1] for v in _verdicts(con)] == ["fail", "fail", "fail", "suspect"]
        revert_review(con, flag.review_id, "drift disproved", "wang", at=AT + timedelta(hours=3))
        assert [v[1] for v in _verdicts(con)] == ["pass", "pass", "fail", "suspect"]
        events = list_reviews(con, AIR)
    assert [(e.action, e.reviewed_by, in_force) for e, in_force in events] == [
        ("flag", "wang", False), ("unflag", "li", False), ("revert", "li", False), ("revert", "wang", False)]
    assert events[2][0].reverts_review_id == unflag.review_id and events[1][0].reason == "dust storm confirmed"


def test_review_errors(qc_done: Settings) -> None:
    with connect(qc_done) as con:
        with pytest.raises(ReviewError, match="unknown site 'nowhere'"):
            record_review(con, "flag", "nowhere", None, T0, T0 + timedelta(hours=1), "x", "wang")
        with pytest.raises(ReviewError, match="does not report parameter 'o3'"):
            record_review(con, "flag", AIR, "o3", T0, T0 + timedelta(hours=1), "x", "wang")
        with pytest.raises(ReviewError, match="empty review range"):
            record_review(con, "flag", AIR, None, T0, T0, "x", "wang")
        with pytest.raises(ReviewError, match="needs a reason"):
            record_review(con, "flag", AIR, None, T0, T0 + timedelta(hours=1), " ", "wang")
        e = record_review(con, "flag", AIR, None, T0, T0 + timedelta(hours=1), "x", "wang")
        r = revert_review(con, e.review_id, "oops", "wang")
        with pytest.raises(ReviewError, match="already reverted"):
            revert_review(con, e.review_id, "oops", "wang")
        with pytest.raises(ReviewError, match="only flag and unflag events can be reverted"):
            revert_review(con, r.review_id, "oops", "wang")
        with pytest.raises(ReviewError, match="no review 'rv-x'"):
            revert_review(con, "rv-x", "oops", "wang")
