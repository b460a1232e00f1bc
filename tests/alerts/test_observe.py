"""Observations per source on a small warehouse: each source on both sides of its limit, the
periods it answers for, the no-verdict cases; then what every source shares (windows,
maintenance) and which function observes which rule."""

from __future__ import annotations

import typing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _alerts_helpers import COMPUTED, SH, add_aggregates, add_readings, local
from pydantic import TypeAdapter

from alerts import observe
from alerts.observe import Observation, Observer, Window
from alerts.rules import STATISTICS, Rule, RuleSet, load_rules
from core.registry.config import load_registry
from transforms.standards import noise as gb3096
from warehouse.db import connect

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
OUTLET = "huaneng_gaobeidian_da001"  # so2 hour_avg_o2 permit limit 50 mg/m3 (GB 13223-2011 表2)
H = timedelta(hours=1)
BASE = {"family": "test", "name_zh": "测试", "name_en": "test", "severity": "minor"}


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_rules(REPO_CONFIG, load_registry(REPO_CONFIG))


def rule(**fields: Any) -> Any:
    return TypeAdapter(Rule).validate_python({"rule_id": "test_rule", **BASE, **fields})


def observe_in(wh, ruleset: RuleSet, r: Any, start: datetime, end: datetime) -> list[Observation]:
    with connect(wh, write=False) as con:
        return Observer(con, ruleset).observe(r, Window(r, start, end))


def verdicts(obs: list[Observation]) -> list[tuple[datetime, bool | None]]:
    return [(o.period_start, o.exceeded) for o in obs]


def execute(wh, sql: str, rows: list[list[Any]]) -> None:
    with connect(wh) as con:
        con.executemany(sql, rows)


# ---------------------------------------------------------------- the window
def test_window_reads_back_far_enough_and_refuses_naive_times():
    r = rule(kind="no_data", site_kinds=["outlet"], duration={"consecutive": 3})
    t0 = datetime(2025, 3, 3, tzinfo=UTC)
    w = Window(r, t0, t0 + 6 * H)
    # max(duration 3 - 1, 3 context periods) + 1 = 4 hours, and a day more
    assert (w.start, w.end, w.read_from) == (t0, t0 + 6 * H, t0 - 4 * H - timedelta(days=1))
    assert w.hours()[0] == w.read_from and w.hours()[-1] == t0 + 5 * H
    flat = rule(kind="flat_line", site_kinds=["outlet"], parameters=["so2"], hours=4)
    assert Window(flat, t0, t0 + H).read_from == t0 - 8 * H - timedelta(days=1)  # + its hours
    with pytest.raises(ValueError, match="no time zone"):
        Window(r, datetime(2025, 3, 3), datetime(2025, 3, 4))


# ---------------------------------------------------------------- threshold sources
def test_aggregates_permit_limit_both_sides_invalid_and_units(wh, ruleset):
    r = rule(
        kind="threshold",
        site_kinds=["outlet"],
        statistic="hour_avg_o2",
        parameters=["so2", "co"],
        limit={"source": "permit"},
    )
    t0 = local(2025, 3, 3, 9)
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", [(t0, 50.0), (t0 + H, 50.1), (t0 + 2 * H, None)]
    )
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(t0 + 3 * H, 50100.0)], unit="ug/m3")
    add_aggregates(wh, OUTLET, "so2", "hour_avg_o2", [(t0 + 4 * H, 7.0)], unit="mg/L")
    add_aggregates(wh, OUTLET, "co", "hour_avg_o2", [(t0, 80.0)])  # no permit limit for co
    obs = observe_in(wh, ruleset, r, t0, t0 + 5 * H)
    co = [o for o in obs if o.parameter == "co"]
    assert [(o.exceeded, o.limit, o.detail) for o in co] == [
        (None, None, "no permit limit for co hour_avg_o2")
    ]
    so2 = [o for o in obs if o.parameter == "so2"]
    assert verdicts(so2) == [
        (t0, False),  # at the limit: not above it
        (t0 + H, True),
        (t0 + 2 * H, None),  # an invalid hour
        (t0 + 3 * H, True),  # 50 100 ug/m3 = 50.1 mg/m3
        (t0 + 4 * H, None),  # a unit of another quantity
    ]
    assert (so2[0].period_end, so2[0].limit, so2[0].unit) == (t0 + H, 50.0, "mg/m3")
    assert so2[1].detail.startswith("GB 13223-2011") and so2[1].multiple == pytest.approx(1.002)
    assert so2[2].detail == "10 valid minutes < 45"
    assert (so2[3].value, so2[3].unit) == (pytest.approx(50.1), "mg/m3")
    assert so2[4].detail == "unit mg/L cannot be compared with the limit in mg/m3"


def test_aggregates_value_limit_below(wh, ruleset):
    r = rule(
        kind="threshold",
        site_kinds=["outlet"],
        statistic="hour_avg",
        parameters=["o2"],
        comparison="below",
        limit={"source": "value", "value": 3.0, "unit": "%", "basis": "test"},
    )
    t0 = local(2025, 3, 3, 9)
    add_aggregates(wh, OUTLET, "o2", "hour_avg", [(t0, 3.0), (t0 + H, 2.9)], unit="%")
    assert verdicts(observe_in(wh, ruleset, r, t0, t0 + 2 * H)) == [(t0, False), (t0 + H, True)]


def test_water_class_limit_of_the_target_class(wh, ruleset):
    # ws_miyun_res: a lake section, target class II; GB 3838-2002 Table 1 class II: NH3-N ≤ 0.5
    # mg/L, dissolved oxygen ≥ 6 mg/L, pH 6-9 (every class)
    r = rule(
        kind="threshold",
        site_kinds=["water"],
        statistic="day_avg",
        parameters=["nh3n", "do", "ph"],
        limit={"source": "water_target_class"},
    )
    day = local(2025, 3, 3, 0)
    for parameter, unit, at_limit, beyond in (
        ("nh3n", "mg/L", 0.5, 0.51),
        ("do", "mg/L", 6.0, 5.9),
        ("ph", "pH", 9.0, 9.1),
    ):
        days = [(day, at_limit), (day + 24 * H, beyond)]
        add_aggregates(wh, "ws_miyun_res", parameter, "day_avg", days, unit=unit, interval_s=86400)
    obs = observe_in(wh, ruleset, r, day, day + 48 * H)
    got = {(o.parameter, o.period_start): (o.exceeded, o.limit) for o in obs}
    assert got == {
        ("do", day): (False, 6.0),
        ("do", day + 24 * H): (True, 6.0),
        ("nh3n", day): (False, 0.5),
        ("nh3n", day + 24 * H): (True, 0.5),
        ("ph", day): (False, 9.0),
        ("ph", day + 24 * H): (True, 9.0),
    }
    (ph,) = [o for o in obs if o.parameter == "ph" and o.exceeded]
    assert ph.detail == "GB 3838-2002 class II: 6.0-9.0" and ph.period_end == day + 24 * H * 2


def test_aqi_daily_strictly_above_the_value_and_invalid_days(wh, ruleset):
    r = rule(
        kind="threshold",
        site_kinds=["air"],
        statistic="aqi_daily",
        limit={"source": "value", "value": 200, "unit": "AQI", "basis": "test"},
    )
    days = [date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 5)]
    execute(
        wh,
        "INSERT INTO aqi_daily (site_id, scope, local_date, edition, aqi, valid, invalid_reasons, computed_at) "
        "VALUES (?, 'station', ?, 'HJ633-2012', ?, ?, ?, ?)",
        [
            ["dongsi", days[0], 200, True, None, COMPUTED],
            ["dongsi", days[1], 201, True, None, COMPUTED],
            ["dongsi", days[2], None, False, "pm25: 18 hours < 20", COMPUTED],
        ],
    )
    obs = observe_in(wh, ruleset, r, local(2025, 3, 3, 0), local(2025, 3, 6, 0))
    assert [(o.value, o.exceeded, o.detail) for o in obs] == [
        (200, False, None),
        (201, True, None),
        (None, None, "pm25: 18 hours < 20"),
    ]
    assert (obs[0].period_start, obs[0].period_end) == (local(2025, 3, 3, 0), local(2025, 3, 4, 0))
    assert obs[0].period_start == datetime(2025, 3, 2, 16, tzinfo=UTC)  # local midnight in UTC


def test_water_class_day_ranks_against_the_target(wh, ruleset):
    r = rule(
        kind="threshold",
        site_kinds=["water"],
        statistic="water_class_day",
        limit={"source": "water_target_class"},
    )
    execute(
        wh,
        "INSERT INTO water_class (site_id, period, period_start, waterbody, water_class, target_class, "
        "exceeding_parameters, exceedance_multiples, n_parameters, computed_at) "
        "VALUES ('ws_liangshui', 'day', ?, 'river', ?, NULL, ?, ?, 5, ?)",
        [
            [date(2025, 3, 3), "V", None, None, COMPUTED],  # target V (the registry's)
            [date(2025, 3, 4), "劣V", "nh3n", "nh3n=0.35", COMPUTED],
            [date(2025, 3, 5), None, None, None, COMPUTED],
        ],
    )
    obs = observe_in(wh, ruleset, r, local(2025, 3, 3, 0), local(2025, 3, 6, 0))
    assert [(o.value, o.limit, o.exceeded) for o in obs] == [
        (5.0, 5.0, False),
        (6.0, 5.0, True),
        (None, None, None),
    ]
    assert obs[1].detail == "class 劣V vs target V; exceeding nh3n (nh3n=0.35); max multiple 1.35"
    assert obs[2].detail == "no valid class"


def test_noise_daily_against_the_zone_limit(wh, ruleset):
    r = rule(
        kind="threshold",
        site_kinds=["noise"],
        statistic="noise_ln",
        limit={"source": "noise_zone"},
    )
    _, night = gb3096.zone_limits("1")  # nz_dongsi_res: zone 1
    execute(
        wh,
        "INSERT INTO noise_daily (site_id, local_date, zone, standard, ld_dba, ln_dba, ld_limit_dba, "
        "ln_limit_dba, n_day_hours, n_night_hours, computed_at) "
        "VALUES ('nz_dongsi_res', ?, '1', 'GB3096-2008', 50, ?, 55, 45, 16, 8, ?)",
        [
            [date(2025, 3, 3), night, COMPUTED],
            [date(2025, 3, 4), night + 0.1, COMPUTED],
            [date(2025, 3, 5), None, COMPUTED],
        ],
    )
    obs = observe_in(wh, ruleset, r, local(2025, 3, 3, 0), local(2025, 3, 6, 0))
    assert [(o.limit, o.exceeded) for o in obs] == [(night, False), (night, True), (night, None)]
    assert obs[0].detail == "zone 1 (GB3096-2008)" and obs[0].unit == "dB(A)"


# ---------------------------------------------------------------- reading sources
def test_flat_line_needs_every_hour_flat(wh, ruleset):
    r = rule(kind="flat_line", site_kinds=["outlet"], parameters=["nox"], hours=3, interval_s=[60])
    t0 = local(2025, 3, 3, 8)
    minutes = [(t0 + H * h + timedelta(minutes=m), 41.0) for h in range(4) for m in range(60)]
    minutes[-1] = (minutes[-1][0], 41.5)  # the last minute of the fourth hour moves
    add_readings(wh, OUTLET, "nox", minutes, interval_s=60)
    obs = observe_in(wh, ruleset, r, t0, t0 + 4 * H)
    assert verdicts(obs) == [(t0 + 2 * H, True), (t0 + 3 * H, False)]  # the first full 3 h
    assert obs[0].detail == "180 values at 60 s over 3 h, range 0"
    assert (obs[1].value, obs[1].limit) == (0.5, 0.0)


def test_no_data_hours_after_the_last_reading(wh, ruleset):
    r = rule(kind="no_data", site_kinds=["outlet"], lookback_h=4)
    t0 = local(2025, 3, 3, 8)
    add_readings(wh, OUTLET, "nox", [(t0, 40.0), (t0 + H, 41.0)])
    obs = observe_in(wh, ruleset, r, t0, t0 + 8 * H)
    ours = [o for o in obs if o.site_id == OUTLET]
    assert verdicts(ours) == [
        (t0, False),
        (t0 + H, False),
        *((t0 + k * H, True) for k in range(2, 6)),  # within 4 h of the last data
    ]  # hours 6 and 7: more than the look-back after it, no observation
    assert ours[2].detail == f"no reading; last data in hour {t0 + H:%Y-%m-%d %H:%M} UTC"
    assert {o.site_id for o in obs} == {OUTLET}  # sites that never reported: not judged


def test_flagged_by_any_source_kind(wh, ruleset):
    r = rule(kind="flagged", site_kinds=["outlet"], parameters=["so2"], flags=["M", "D"])
    t0 = local(2025, 3, 3, 8)
    add_readings(wh, OUTLET, "so2", [(t0, 10.0), (t0 + H, 11.0)], flag="N")
    add_readings(wh, OUTLET, "so2", [(t0 + H, 11.0)], flag="M", source_kind="file")
    add_readings(wh, OUTLET, "so2", [(t0 + 2 * H, None)], flag=None)
    obs = observe_in(wh, ruleset, r, t0, t0 + 3 * H)
    assert [(o.exceeded, o.detail) for o in obs] == [
        (False, "flag N"),
        (True, "flag M"),  # hj212 says N, the file says M: flagged
        (False, "no flag"),
    ]


def test_transmission_efficiency_below_the_minimum(wh, ruleset):
    r = rule(kind="transmission_efficiency", site_kinds=["outlet"], minimum=0.9, basis="test")
    execute(
        wh,
        "INSERT INTO transmission_efficiency (site_id, month, interval_s, expected, received, valid, "
        "efficiency, required, computed_at) VALUES (?, ?, 3600, 744, 700, ?, ?, 0.9, ?)",
        [
            [OUTLET, date(2025, 1, 1), 670, 0.9, COMPUTED],
            [OUTLET, date(2025, 2, 1), 669, 0.899, COMPUTED],
            [OUTLET, date(2025, 3, 1), 0, None, COMPUTED],
        ],
    )
    obs = observe_in(wh, ruleset, r, local(2025, 1, 1, 0), local(2025, 4, 1, 0))
    assert [(o.value, o.limit, o.exceeded) for o in obs] == [
        (pytest.approx(90.0), 90.0, False),
        (pytest.approx(89.9), 90.0, True),
        (None, 90.0, None),
    ]
    assert (obs[1].period_start, obs[1].period_end) == (local(2025, 2, 1, 0), local(2025, 3, 1, 0))
    assert obs[1].detail == "669 valid of 744 expected (700 received); test"
    assert obs[2].detail == "no data expected"


# ---------------------------------------------------------------- outlet-hour sources
def add_hours(wh, site: str, parameter: str, start: datetime, rows: list[dict]) -> None:
    execute(
        wh,
        "INSERT INTO outlet_hours (site_id, parameter, period_start, unit, valid, covered_minutes, "
        "derived_value, logger_value, operating, not_operating_reason, treatment_stopped, "
        "logger_valid, computed_at) VALUES (?, ?, ?, 'mg/m3', true, 60, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                site,
                parameter,
                start + H * k,
                r.get("derived"),
                r.get("logger"),
                r.get("operating", True),
                r.get("reason"),
                r.get("stopped"),
                r.get("logger_valid", True),
                COMPUTED,
            ]
            for k, r in enumerate(rows)
        ],
    )


def test_consistency_beyond_the_allowed_difference(wh, ruleset):
    r = rule(
        kind="consistency",
        site_kinds=["outlet"],
        compare="logger_vs_derived",
        parameters=["so2"],
        relative_tolerance=0.1,
        absolute_floor={"value": 2.0, "unit": "mg/m3"},
        basis="test",
    )
    t0 = local(2025, 3, 3, 8)
    add_hours(
        wh,
        OUTLET,
        "so2",
        t0,
        [
            {"derived": 100.0, "logger": 110.0},  # 10 = 10 % of 100: allowed
            {"derived": 100.0, "logger": 110.5},  # beyond it
            {"derived": 10.0, "logger": 12.0},  # the floor (2 mg/m3) is the larger: allowed
            {"derived": 10.0, "logger": 12.5},
            {"derived": 10.0, "logger": 30.0, "logger_valid": False},
            {"derived": 10.0, "logger": 30.0, "operating": False, "reason": "zero flow"},
            {"derived": None, "logger": 30.0},
        ],
    )
    obs = observe_in(wh, ruleset, r, t0, t0 + 7 * H)
    assert [o.exceeded for o in obs] == [False, True, False, True, None, None, None]
    assert [(o.value, o.limit) for o in obs[:4]] == [
        (10.0, 10.0),
        (10.5, 10.0),
        (2.0, 2.0),
        (2.5, 2.0),
    ]
    assert obs[4].detail.startswith("not judged: the logger's hourly reading failed QC")
    assert obs[5].detail == "not operating: zero flow"
    assert obs[6].detail == "no derived value"


def test_long_stop_stopped_running_and_unknown_hours(wh, ruleset):
    r = rule(kind="long_stop", site_kinds=["outlet"], basis="test")
    t0 = local(2025, 3, 3, 8)
    add_hours(
        wh,
        OUTLET,
        "so2",
        t0,
        [{"operating": True}, {"operating": False, "reason": "zero flow"}, {"operating": None}],
    )
    add_hours(
        wh,
        OUTLET,
        "nox",
        t0,
        [{"operating": False}, {"operating": False, "reason": "o2 high"}, {"operating": None}],
    )
    obs = observe_in(wh, ruleset, r, t0, t0 + 3 * H)
    assert [(o.exceeded, o.detail, o.bridge) for o in obs] == [
        (False, "operating", False),  # one parameter operating: the outlet runs
        (True, "not operating: o2 high; zero flow", False),
        (None, "operating state unknown (no data)", True),
    ]


def test_treatment_stopped_while_discharging(wh, ruleset):
    r = rule(
        kind="treatment_stopped", site_kinds=["outlet"], basis="test", seen_running_within_h=24
    )
    t0 = local(2025, 3, 3, 8)
    add_hours(
        wh,
        OUTLET,
        "so2",
        t0,
        [
            {"stopped": "SB1"},  # SB1 ran within 24 h: judged
            {"stopped": "SB2"},  # SB2 never seen running: not judged
            {},
            {"stopped": "SB1", "operating": False},  # shut down: nothing discharged
            {"operating": None},
        ],
    )
    execute(
        wh,
        "INSERT INTO logger_events (site_id, cn, event_time, kind, code, status_code, received_at, batch_id) "
        "VALUES (?, '2021', ?, 'run_status', 'SB1', 1, ?, 'test')",
        [[OUTLET, t0 - 2 * H, COMPUTED]],
    )
    obs = observe_in(wh, ruleset, r, t0, t0 + 5 * H)
    assert [o.exceeded for o in obs] == [True, None, False, False, None]
    assert obs[0].detail.endswith("while discharging: SB1")
    assert obs[1].detail.startswith("SB2 reported stopped but never running in the 24 h before")
    assert obs[4].bridge is True


# ---------------------------------------------------------------- shared by every source
def test_night_window_and_maintenance(wh, ruleset):
    r = rule(
        kind="threshold",
        site_kinds=["outlet"],
        statistic="hour_avg_o2",
        parameters=["so2"],
        limit={"source": "permit"},
        only_during=["night"],
    )
    t0 = datetime(2025, 3, 4, 21, tzinfo=SH)  # a Tuesday: 21:00 and 22:00 local
    add_aggregates(
        wh, OUTLET, "so2", "hour_avg_o2", [(t0, 60.0), (t0 + H, 60.0), (t0 + 2 * H, 60.0)]
    )
    execute(
        wh,
        "INSERT INTO silences VALUES ('M1', 'maintenance', ?, NULL, NULL, ?, ?, 'calibration', 'li', ?, NULL, NULL)",
        [[OUTLET, t0 + 2 * H, t0 + 3 * H, COMPUTED]],
    )
    obs = observe_in(wh, ruleset, r, t0, t0 + 3 * H)
    assert [(o.exceeded, o.detail) for o in obs] == [
        (False, "outside night"),  # 21:00 local: before the night (22:00-06:00)
        (True, obs[1].detail),
        (None, "maintenance window M1"),
    ]


def test_every_rule_kind_and_statistic_has_a_source():
    union = typing.get_args(typing.get_args(Rule)[0])
    kinds = {typing.get_args(cls.model_fields["kind"].annotation)[0] for cls in union}
    assert kinds == {"threshold", *observe.SOURCES}
    assert {s.source for s in STATISTICS.values()} == set(observe.THRESHOLD_SOURCES)
    noise = rule(
        kind="threshold", site_kinds=["noise"], statistic="noise_ld", limit={"source": "noise_zone"}
    )
    assert observe.source_of(noise) is observe.threshold_noise_daily
    assert observe.source_of(rule(kind="no_data", site_kinds=["air"])) is observe.no_data
