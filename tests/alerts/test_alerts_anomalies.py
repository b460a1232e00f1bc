"""Data anomalies: flat line, no data, flagged too long, transmission efficiency; rule loading."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from _alerts_helpers import add_readings, hours, local, rows

from alerts.jobs import evaluate_rules
from alerts.rules import load_rules
from core.errors import ConfigError
from core.registry.config import load_registry
from warehouse.db import connect

OUTLET = "yizhuang_auto_da001"  # territorial grid only (yizhuang_park), no special grid
REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


def minutes_of(
    start: datetime, hours_n: int, values_per_hour: list[float]
) -> list[tuple[datetime, float]]:
    """Minute readings: each hour's 60 minutes at that hour's value."""
    return [
        (start + timedelta(hours=h, minutes=m), values_per_hour[h])
        for h in range(hours_n)
        for m in range(60)
    ]


def test_flat_line_four_hours_opens_case_in_territorial_grid(wh):
    t0 = local(2025, 3, 3, 8)
    add_readings(wh, OUTLET, "nox", minutes_of(t0, 3, [41.0] * 3), interval_s=60)
    evaluate_rules(wh, t0, t0 + timedelta(hours=3), rule_ids=["outlet_flat_line"])
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]  # three identical hours: not yet
    add_readings(wh, OUTLET, "nox", minutes_of(t0 + timedelta(hours=3), 1, [41.0]), interval_s=60)
    evaluate_rules(
        wh, t0 + timedelta(hours=3), t0 + timedelta(hours=4), rule_ids=["outlet_flat_line"]
    )
    assert rows(wh, "SELECT parameter, first_period, rule_family FROM alerts") == [
        ("nox", t0 + timedelta(hours=3), "instrument_anomaly")
    ]
    assert rows(wh, "SELECT grid_id, officer_id, routed_by FROM cases") == [
        ("yizhuang_park", "yizhuang_park_responsible", "territorial_grid")
    ]


def test_flat_line_any_change_is_not_flat(wh):
    t0 = local(2025, 3, 3, 8)
    add_readings(
        wh, OUTLET, "nox", minutes_of(t0, 5, [41.0, 41.0, 41.1, 41.0, 41.0]), interval_s=60
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=5), rule_ids=["outlet_flat_line"])
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]


def test_flat_line_ignores_identical_hourly_means(wh):
    # coarse hourly means of a healthy analyser can repeat; the rule looks at minute data
    t0 = local(2025, 3, 3, 8)
    add_readings(wh, OUTLET, "nox", list(zip(hours(t0, 5), [41.0] * 5, strict=True)))
    evaluate_rules(wh, t0, t0 + timedelta(hours=5), rule_ids=["outlet_flat_line"])
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]


def test_no_data_three_hours_but_not_two(wh):
    t0 = local(2025, 3, 3, 0)
    add_readings(
        wh, OUTLET, "nox", list(zip(hours(t0, 6), [40.0, 42, 43, 44, 45, 46], strict=True))
    )
    # gap of two hours (06, 07), data at 08, then a gap of three hours (09, 10, 11), data again at 12
    add_readings(
        wh, OUTLET, "nox", [(t0 + timedelta(hours=8), 40.0), (t0 + timedelta(hours=12), 41.0)]
    )
    evaluate_rules(
        wh, t0 + timedelta(hours=6), t0 + timedelta(hours=13), rule_ids=["outlet_no_data"]
    )
    assert rows(wh, "SELECT first_period, last_period, state, resolved_period FROM alerts") == [
        (t0 + timedelta(hours=9), t0 + timedelta(hours=11), "resolved", t0 + timedelta(hours=13))
    ]


def test_no_data_outage_not_hidden_by_the_loggers_daily_value(wh):
    # Real loggers send a daily value (CN 2031) at local midnight beside their minute data; it
    # summarises the day and says nothing about the hours in which no data arrived.
    t0 = local(2025, 3, 3, 0)
    add_readings(wh, OUTLET, "nox", minutes_of(t0, 9, [40.0] * 9), interval_s=60)  # 00-08
    add_readings(
        wh, OUTLET, "nox", minutes_of(t0 + timedelta(hours=14), 2, [40.0] * 2), interval_s=60
    )
    add_readings(wh, OUTLET, "nox", [(t0, 40.0)], interval_s=86400)  # the day's own value
    evaluate_rules(wh, t0, t0 + timedelta(hours=16), rule_ids=["outlet_no_data"])
    assert rows(wh, "SELECT first_period, last_period, state FROM alerts") == [
        (t0 + timedelta(hours=9), t0 + timedelta(hours=13), "resolved")
    ]


def test_no_data_four_hourly_samples_cover_their_hours(wh):
    # a site whose finest data are 4-hourly samples is not "silent" between two samples
    t0 = local(2025, 3, 3, 0)
    add_readings(
        wh, OUTLET, "nox", [(t0 + timedelta(hours=4 * k), 40.0) for k in range(4)], interval_s=14400
    )
    evaluate_rules(wh, t0, t0 + timedelta(hours=16), rule_ids=["outlet_no_data"])
    assert rows(wh, "SELECT count(*) FROM alerts") == [(0,)]


def test_flagged_longer_than_allowed(wh):
    t0 = local(2025, 3, 3, 0)
    add_readings(wh, OUTLET, "so2", [(t, 0.0) for t in hours(t0, 11)], flag="F")
    add_readings(wh, OUTLET, "so2", [(t0 + timedelta(hours=11), 20.0)], flag="N")
    add_readings(wh, OUTLET, "nox", [(t, 0.0) for t in hours(t0, 12)], flag="D")
    evaluate_rules(wh, t0, t0 + timedelta(hours=12), rule_ids=["outlet_flagged_too_long"])
    assert rows(wh, "SELECT parameter, first_period FROM alerts") == [
        ("nox", t0)
    ]  # 11 h of F: allowed


def test_monthly_transmission_efficiency_below_90_percent(wh):
    with connect(wh) as con:
        for site, eff in ((OUTLET, 0.90), ("yizhuang_auto_dw001", 0.899)):
            con.execute(
                "INSERT INTO transmission_efficiency VALUES (?, ?, 3600, 744, 700, 669, 0.94, 0.95, ?, 0.9, ?, ?)",
                [site, date(2025, 3, 1), eff, eff >= 0.9, local(2025, 4, 1, 1)],
            )
    evaluate_rules(
        wh,
        local(2025, 3, 31, 23),
        local(2025, 4, 1, 0),
        rule_ids=["outlet_transmission_efficiency"],
    )
    got = rows(wh, "SELECT site_id, first_period, max_value, limit_value, unit FROM alerts")
    assert [(g[0], g[1], round(g[2], 6), g[3], g[4]) for g in got] == [
        ("yizhuang_auto_dw001", local(2025, 3, 1, 0), 89.9, 90.0, "%")
    ]


def _rules_dir(tmp_path: Path, bad: str) -> Path:
    config = tmp_path / "config"
    (config / "rules").mkdir(parents=True)
    for name in ("calendar.yaml", "holidays.csv"):
        shutil.copy(REPO_CONFIG / "rules" / name, config / "rules" / name)
    (config / "rules" / "bad.yaml").write_text(bad, encoding="utf-8")
    return config


RULE = """rules:
- rule_id: r1
  family: f
  kind: threshold
  name_zh: 测试
  name_en: test
  site_kinds: [{kind}]
  statistic: {stat}
  parameters: [{param}]
  limit: {{source: value, value: 5, unit: {unit}, basis: test}}
  severity: major
"""


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"param": "pm2.5"},
            "bad.yaml: rules[0].parameters[0]: unknown parameter 'pm2.5'; valid: ",
        ),
        (
            {"kind": "river"},
            "bad.yaml: rules[0].threshold.site_kinds[0]: Input should be 'air', 'water', 'noise' or 'outlet' (got 'river')",
        ),
        (
            {"stat": "hourly"},
            "bad.yaml: rules[0].statistic: unknown statistic 'hourly'; valid: aqi_daily, day_avg",
        ),
        ({"unit": "mg/L"}, "bad.yaml: rules[0].limit.unit: 'mg/L' cannot measure pm25 (in ug/m3)"),
        ({"unit": "ppb"}, "bad.yaml: rules[0].limit.unit: unknown unit 'ppb'; valid: "),
    ],
)
def test_bad_rules_fail_loudly_with_file_key_and_choices(tmp_path, fields, expected):
    values = {"kind": "air", "stat": "hour_avg", "param": "pm25", "unit": "ug/m3", **fields}
    config = _rules_dir(tmp_path, RULE.format(**values))
    with pytest.raises(ConfigError) as err:
        load_rules(config, load_registry(REPO_CONFIG))
    assert expected in str(err.value)


def test_shipped_rules_load():
    ruleset = load_rules(REPO_CONFIG, load_registry(REPO_CONFIG))
    kinds = {r.kind for r in ruleset.rules}
    assert kinds == {
        "threshold",
        "flat_line",
        "no_data",
        "flagged",
        "transmission_efficiency",
        "consistency",
        "long_stop",
        "treatment_stopped",
    }
    assert ruleset.by_id["outlet_transmission_efficiency"].minimum == 0.90
    assert date(2025, 10, 1) in ruleset.holidays and date(2025, 10, 9) not in ruleset.holidays
