"""Cases and people: who may assign, move, close (销号), dismiss and reopen a case of a grid;
events kept in time order; reopening by hand and by the evaluation within reopen_days."""

from __future__ import annotations

from datetime import timedelta

import pytest
from _alerts_helpers import add_aggregates, hours, local, rows

from alerts import cases as case_flow
from alerts.jobs import evaluate_rules
from alerts.rules import load_case_policy
from warehouse.db import connect, transaction

OUTLET = "huaneng_gaobeidian_da001"  # so2 limit 50 (hour_avg_o2); special grid key_enterprises (parent city)
RULE = ["flue_gas_hour_over_permit"]
LEADER = "key_enterprises_leader"  # 徐明 Xu Ming, 010-66278762
RESPONSIBLE = "key_enterprises_responsible"  # 孙伟 Sun Wei
INSPECTOR = "key_enterprises_inspector"  # 胡军 Hu Jun
CITY_LEADER = "city_leader"  # 王敏 Wang Min: the grid above key_enterprises
OTHER = "dongcheng_leader"  # 张平 Zhang Ping: a leader of another grid tree
REVIEWER, ADMIN = "data_reviewer_sun", "admin_zhou"


def _case(wh, t0=None) -> str:
    t0 = t0 or local(2025, 3, 3, 9)
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(t0, 60.0)])
    evaluate_rules(wh, t0, t0 + timedelta(hours=1), rule_ids=RULE)
    ((case_id,),) = rows(wh, "SELECT case_id FROM cases ORDER BY opened_at DESC LIMIT 1")
    return case_id


def _to_verified(con, case_id: str, at) -> None:
    case_flow.assign(con, case_id, INSPECTOR, by=LEADER, at=at)
    case_flow.move(con, case_id, "under_inspection", by=INSPECTOR, at=at)
    case_flow.move(con, case_id, "rectification_ordered", by=INSPECTOR, at=at, deadline=at + timedelta(days=2))
    case_flow.move(con, case_id, "verified", by=INSPECTOR, at=at + timedelta(days=1))


def test_assigning_to_an_officer_of_another_grid_is_refused(wh):
    case_id = _case(wh)
    at = local(2025, 3, 3, 11)
    with connect(wh) as con, transaction(con):
        with pytest.raises(case_flow.CasePermissionError) as refused:
            case_flow.assign(con, case_id, "dongcheng_responsible", by=LEADER, at=at)
        text = str(refused.value)
        assert "刘静 Liu Jing (dongcheng_responsible) is an officer of 东城区网格" in text
        assert "重点排污单位专项网格 Key monitored enterprises special grid (key_enterprises)" in text
        assert "胡军 Hu Jun (key_enterprises_inspector, inspector)" in text  # its officers named
        # a name several officers share means the one of the case's grid (胡军 is also tiantan's)
        case_flow.assign(con, case_id, "胡军", by=LEADER, at=at)
        case_flow.assign(con, case_id, CITY_LEADER, by=LEADER, at=at)  # a grid above: allowed
    assert rows(wh, "SELECT officer_id FROM cases") == [(CITY_LEADER,)]
    assert rows(wh, "SELECT note FROM case_events WHERE seq = 2") == [
        ("assigned to 胡军 Hu Jun (key_enterprises_inspector) "
         "(was 孙伟 Sun Wei (key_enterprises_responsible))",)]


@pytest.mark.parametrize(("who", "says"), [
    (OTHER, "is an officer of 东城区网格 Dongcheng"),
    (REVIEWER, r"is bureau staff \(data_reviewer\): staff may add notes"),
    (ADMIN, r"is bureau staff \(administrator\)"),
])
def test_people_outside_the_grid_tree_cannot_move_a_case(wh, who, says):
    case_id = _case(wh)
    with connect(wh) as con, transaction(con):
        with pytest.raises(case_flow.CasePermissionError, match=says):
            case_flow.move(con, case_id, "assigned", by=who, at=local(2025, 3, 3, 11))
        with pytest.raises(case_flow.CasePermissionError, match=says):
            case_flow.assign(con, case_id, INSPECTOR, by=who, at=local(2025, 3, 3, 11))
        case_flow.add_note(con, case_id, "called the plant", by=who, at=local(2025, 3, 3, 11))
    assert rows(wh, "SELECT state FROM cases") == [("open",)]
    assert rows(wh, "SELECT actor FROM case_events WHERE action = 'note'") == [(who,)]


def test_closure_needs_a_leader_of_the_grid_tree_and_a_note(wh):
    case_id = _case(wh)
    at = local(2025, 3, 3, 11)
    with connect(wh) as con, transaction(con):
        _to_verified(con, case_id, at)
        done = at + timedelta(days=1, hours=1)
        for officer in (INSPECTOR, RESPONSIBLE):  # the case's own officers may not close it
            with pytest.raises(case_flow.CasePermissionError) as refused:
                case_flow.move(con, case_id, "closed", by=officer, at=done, note="rectified")
            assert "only a leader of its grid" in str(refused.value)
            assert "the nearest is 徐明 Xu Ming (key_enterprises_leader, 010-66278762)" in str(refused.value)
        with pytest.raises(case_flow.CasePermissionError):
            case_flow.move(con, case_id, "closed", by=OTHER, at=done, note="rectified")  # another tree's leader
        with pytest.raises(case_flow.CaseError, match="needs a note"):
            case_flow.move(con, case_id, "closed", by=LEADER, at=done)
        case_flow.move(con, case_id, "closed", by=CITY_LEADER, at=done, note="report checked")  # up the tree
    assert rows(wh, "SELECT state FROM cases") == [("closed",)]


def test_dismissal_is_a_leaders_decision(wh):
    case_id = _case(wh)
    at = local(2025, 3, 3, 11)
    with connect(wh) as con, transaction(con):
        with pytest.raises(case_flow.CasePermissionError, match="cannot dismiss"):
            case_flow.move(con, case_id, "dismissed", by=RESPONSIBLE, at=at, note="analyser fault")
        case_flow.move(con, case_id, "dismissed", by=LEADER, at=at, note="analyser fault")
    assert rows(wh, "SELECT state, dismissed_reason FROM cases") == [("dismissed", "analyser fault")]


def test_an_event_before_the_last_one_is_refused(wh):
    case_id = _case(wh)  # opened 2025-03-03 10:00 local
    with connect(wh) as con, transaction(con):
        with pytest.raises(case_flow.CaseError, match=r"2025-03-03 09:59\+08:00 is before case .* last event "
                                                      r"\(opened, event 1, 2025-03-03 10:00\+08:00\)"):
            case_flow.assign(con, case_id, INSPECTOR, by=LEADER, at=local(2025, 3, 3, 9, 59))
        case_flow.assign(con, case_id, INSPECTOR, by=LEADER, at=local(2025, 3, 3, 10))  # the same minute: fine


def test_deadline_as_a_date_is_the_end_of_that_local_day(wh):
    from datetime import date

    case_id = _case(wh)
    at = local(2025, 3, 3, 11)
    with connect(wh) as con, transaction(con):
        case_flow.assign(con, case_id, INSPECTOR, by=LEADER, at=at)
        case_flow.move(con, case_id, "under_inspection", by=INSPECTOR, at=at)
        case_flow.move(con, case_id, "rectification_ordered", by=INSPECTOR, at=at, deadline=date(2025, 3, 5))
    assert rows(wh, "SELECT deadline FROM cases") == [(local(2025, 3, 6, 0),)]
    assert rows(wh, "SELECT note FROM case_events WHERE seq = 4") == [
        ("deadline 2025-03-05 24:00 (2025-03-06 00:00+08:00)",)]


def test_reopen_by_hand_within_the_period_keeps_the_history(wh):
    days = load_case_policy(wh.config_dir).reopen_days
    case_id = _case(wh)
    at = local(2025, 3, 3, 11)
    closed = at + timedelta(days=1, hours=1)
    with connect(wh) as con, transaction(con):
        _to_verified(con, case_id, at)
        case_flow.move(con, case_id, "closed", by=LEADER, at=closed, note="rectified")
        with pytest.raises(case_flow.CaseError, match="needs a note"):
            case_flow.reopen(con, case_id, by=INSPECTOR, at=closed + timedelta(days=1), note="")
        with pytest.raises(case_flow.CasePermissionError):
            case_flow.reopen(con, case_id, by=OTHER, at=closed + timedelta(days=1), note="again")
        with pytest.raises(case_flow.CaseError, match=f"more than {days:g} days"):
            case_flow.reopen(con, case_id, by=INSPECTOR, at=closed + timedelta(days=days, seconds=1), note="x")
        case_flow.reopen(con, case_id, by=INSPECTOR, at=closed + timedelta(days=days), note="smoke seen again")
        with pytest.raises(case_flow.CaseError, match="only a closed"):
            case_flow.reopen(con, case_id, by=INSPECTOR, at=closed + timedelta(days=days), note="x")
    assert rows(wh, "SELECT state, closed_at, deadline FROM cases") == [("assigned", None, None)]
    assert rows(wh, "SELECT action, from_state, to_state FROM case_events WHERE seq >= 6 ORDER BY seq") == [
        ("state_changed", "verified", "closed"), ("reopened", "closed", "assigned")]


def test_a_dismissed_case_is_not_reopened(wh):
    case_id = _case(wh)
    with connect(wh) as con, transaction(con):
        case_flow.move(con, case_id, "dismissed", by=LEADER, at=local(2025, 3, 3, 11), note="analyser fault")
        with pytest.raises(case_flow.CaseError, match="a dismissed case stays dismissed"):
            case_flow.reopen(con, case_id, by=LEADER, at=local(2025, 3, 3, 12), note="x")


def _resolve(wh) -> None:
    """Normal hours after the first exceedance: its alert clears (a recurrence is a new alert)."""
    t = local(2025, 3, 3, 10)
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(h, 40.0) for h in hours(t, 3)])
    evaluate_rules(wh, t, t + timedelta(hours=3), rule_ids=RULE)
    assert rows(wh, "SELECT state FROM alerts") == [("resolved",)]


def _close(wh, case_id: str, closed) -> None:
    with connect(wh) as con, transaction(con):
        _to_verified(con, case_id, closed - timedelta(days=2))
        case_flow.move(con, case_id, "closed", by=LEADER, at=closed, note="rectified")


@pytest.mark.parametrize(("after_days", "reopened"), [(29, True), (31, False)])
def test_a_recurrence_within_reopen_days_reopens_the_closed_case(wh, after_days, reopened):
    assert load_case_policy(wh.config_dir).reopen_days == 30
    case_id = _case(wh)
    _resolve(wh)
    closed = local(2025, 3, 6, 12)
    _close(wh, case_id, closed)
    again = closed + timedelta(days=after_days)
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(t, 60.0) for t in hours(again, 1)])
    evaluate_rules(wh, again, again + timedelta(hours=1), rule_ids=RULE)
    got = rows(wh, "SELECT case_id, state FROM cases ORDER BY opened_at")
    if reopened:
        assert got == [(case_id, "assigned")]
        ((actor, note),) = rows(wh, "SELECT actor, note FROM case_events WHERE action = 'reopened'")
        assert actor == "system" and "within 30 days of the closure (2025-03-06 12:00+08:00): alert" in note
        assert rows(wh, "SELECT count(*) FROM case_events WHERE to_state = 'closed'") == [(1,)]
    else:
        assert got[0] == (case_id, "closed") and len(got) == 2 and got[1][1] == "open"


def test_a_recurrence_after_a_dismissal_opens_a_new_case(wh):
    case_id = _case(wh)
    _resolve(wh)
    with connect(wh) as con, transaction(con):
        case_flow.move(con, case_id, "dismissed", by=LEADER, at=local(2025, 3, 3, 14), note="analyser fault")
    again = local(2025, 3, 5, 9)
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(again, 60.0)])
    evaluate_rules(wh, again, again + timedelta(hours=1), rule_ids=RULE)
    assert [s for _, s in rows(wh, "SELECT case_id, state FROM cases ORDER BY opened_at")] == ["dismissed", "open"]


def test_case_ids_carry_the_local_date_of_opening(wh):
    case_id = _case(wh, local(2026, 12, 1, 1))  # opened 2026-12-01 02:00+08:00 = 11-30 18:00 UTC
    assert case_id.startswith("C20261201-")


def test_states_are_read_by_id_or_label():
    assert case_flow.resolve_state("已销号") == "closed"
    assert case_flow.resolve_state("不予立案") == "dismissed"
    assert case_flow.resolve_state("rectification ordered") == "rectification_ordered"
    assert case_flow.state_label("under_inspection") == "核查中 under_inspection"
    assert set(case_flow.STATE_LABELS) == set(case_flow.STATES)
    with pytest.raises(case_flow.CaseError, match="states: 待派发 open, 已派发 assigned"):
        case_flow.resolve_state("shut")
