"""The set-based evaluation (one query per rule, bulk writes): its boundaries and bookkeeping
across many sites and rules in one run — the shapes the province benchmark has and the
single-site tests do not."""

from __future__ import annotations

from datetime import datetime, timedelta

from _alerts_helpers import add_readings, hours, local, rows

from alerts import cases as case_flow
from alerts.jobs import evaluate_rules
from warehouse.db import connect, transaction

OUTLETS = ("yizhuang_auto_da001", "huaneng_gaobeidian_da001", "guohua_thermal_da001")


def minutes(
    start: datetime, per_hour: list[int], value: float = 41.0
) -> list[tuple[datetime, float]]:
    """Minute readings at one value: per_hour[h] minutes in hour h (the first ones)."""
    return [
        (start + timedelta(hours=h, minutes=m), value)
        for h, n in enumerate(per_hour)
        for m in range(n)
    ]


def test_flat_line_coverage_boundary_over_several_outlets_in_one_query(wh):
    # 4 h of minute data = 240 expected values; min_coverage 0.75 needs 180
    t0 = local(2025, 3, 3, 8)
    # 180 values: flat; 179: no verdict; 239 and one change of 0.5: normal
    add_readings(wh, OUTLETS[0], "nox", minutes(t0, [60, 30, 30, 60]), interval_s=60)
    add_readings(wh, OUTLETS[1], "nox", minutes(t0, [60, 30, 29, 60]), interval_s=60)
    add_readings(wh, OUTLETS[2], "so2", minutes(t0, [60, 60, 60, 59]), interval_s=60)
    add_readings(
        wh, OUTLETS[2], "so2", [(t0 + timedelta(hours=3, minutes=59), 41.5)], interval_s=60
    )
    report = evaluate_rules(wh, t0, t0 + timedelta(hours=4), rule_ids=["outlet_flat_line"])
    assert rows(wh, "SELECT site_id, parameter, first_period, max_value, message FROM alerts") == [
        (
            OUTLETS[0],
            "nox",
            t0 + timedelta(hours=3),
            0.0,
            "Outlet values unchanged for hours (analyser fault or tampering suspected): "
            "北京奔驰汽车亦庄工厂 燃气锅炉排气筒1号 Yizhuang Automotive Plant, gas boiler stack no. 1 "
            "(yizhuang_auto_da001) nox "
            "[180 values at 60 s over 4 h, range 0]",
        )
    ]
    # verdicts: the outlet that changed by 0.5 is normal in its one full window; the thin one
    # gives none
    got = rows(wh, "SELECT site_id, parameter, evaluated_through FROM alert_cursors ORDER BY ALL")
    assert got == [
        (OUTLETS[2], "so2", t0 + timedelta(hours=4)),
        (OUTLETS[0], "nox", t0 + timedelta(hours=4)),
    ]
    assert report.periods_evaluated == 2


def test_flat_line_must_span_its_first_hour(wh):
    # hours 2..4 flat and full, hour 1 empty: at hour 4 the window does not reach back to its
    # first hour; at hour 5 (2..5) it does
    t0 = local(2025, 3, 3, 8)
    add_readings(
        wh,
        OUTLETS[0],
        "dust",
        minutes(t0 + timedelta(hours=1), [60, 60, 60, 60], 6.0),
        interval_s=60,
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=4), rule_ids=["outlet_flat_line"])
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]
    evaluate_rules(
        wh, t0 + timedelta(hours=4), t0 + timedelta(hours=5), rule_ids=["outlet_flat_line"]
    )
    assert rows(wh, "SELECT parameter, first_period FROM alerts") == [
        ("dust", t0 + timedelta(hours=4))
    ]


def test_case_events_keep_numbering_across_runs_and_staff_notes(wh):
    t0 = local(2025, 3, 3, 8)
    add_readings(wh, OUTLETS[0], "nox", minutes(t0, [60] * 4), interval_s=60)
    evaluate_rules(wh, t0, t0 + timedelta(hours=4), rule_ids=["outlet_flat_line"])
    (case_id,) = rows(wh, "SELECT case_id FROM cases")[0]
    with connect(wh) as con, transaction(con):
        case_flow.add_note(
            con, case_id, "called the operator", by="station_tech_zhao", at=t0 + timedelta(hours=4, minutes=5)
        )
    # the next hour: two more parameters stick at the same outlet, the first keeps sticking
    nxt = t0 + timedelta(hours=4)
    add_readings(wh, OUTLETS[0], "nox", minutes(nxt, [60]), interval_s=60)
    for p in ("so2", "dust"):
        add_readings(wh, OUTLETS[0], p, minutes(t0, [60] * 5, 3.0), interval_s=60)
    report = evaluate_rules(wh, t0, nxt + timedelta(hours=1), rule_ids=["outlet_flat_line"])
    assert report.cases_opened == []
    events = rows(
        wh, "SELECT seq, actor, action FROM case_events WHERE case_id = ? ORDER BY seq", [case_id]
    )
    assert events == [
        (1, "system", "opened"),
        (2, "station_tech_zhao", "note"),
        (3, "system", "evidence_attached"),  # dust (series run in site, parameter order)
        (4, "system", "evidence_attached"),  # so2
    ]
    assert rows(wh, "SELECT parameter, case_id FROM alerts ORDER BY parameter") == [
        ("dust", case_id),
        ("nox", case_id),
        ("so2", case_id),
    ]


def test_no_data_rules_of_different_lengths_in_one_run(wh):
    # every rule at once: the no-data rules share one scan of the readings, each with its own
    # window; outlet: 3 silent hours (rule: 3) fires, 2 do not; air: 5 silent hours (rule: 6) do not
    t0 = local(2025, 3, 3, 0)
    quiet = {OUTLETS[0]: range(6, 9), OUTLETS[1]: range(6, 8), "dongsi": range(6, 11)}
    for site, gap in quiet.items():
        param = "pm25" if site == "dongsi" else "nox"
        add_readings(
            wh, site, param, [(t, 40.0) for i, t in enumerate(hours(t0, 13)) if i not in gap]
        )
    evaluate_rules(wh, t0 + timedelta(hours=6), t0 + timedelta(hours=13))
    assert rows(wh, "SELECT rule_id, site_id, first_period, last_period, state FROM alerts") == [
        ("outlet_no_data", OUTLETS[0], t0 + timedelta(hours=6), t0 + timedelta(hours=8), "resolved")
    ]
    # a second run over the same hours writes nothing
    before = rows(wh, "SELECT count(*) FROM alert_cursors")
    assert (
        evaluate_rules(wh, t0 + timedelta(hours=6), t0 + timedelta(hours=13)).periods_evaluated == 0
    )
    assert rows(wh, "SELECT count(*) FROM alert_cursors") == before
