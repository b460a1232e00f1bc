"""GB 3838-2002 boundaries and the real 2007 weekly sample; noise; emissions."""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from _standards_helpers import read_fixture

from transforms.standards import emission_load_kg_h, noise_levels, o2_corrected, tables, water_class
from transforms.standards.emissions import (
    emission_totals,
    hourly_emissions,
    not_operating_reason,
    o2_cap_pct,
    reference_o2,
    slice_load_kg,
)
from transforms.standards.noise import energy_average, night_max_exceeds, zone_limits
from transforms.standards.water import CLASSES, classify, parameter_class

TABLE1 = read_fixture("gb3838_table1.csv")
SAMPLE = Path(__file__).resolve().parents[3].parent / "shared" / "data/water_weekly_2007w02_sample/weekly_2007w02_first6.csv"
ROMAN = {"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "Ⅳ": "IV", "Ⅴ": "V", "劣Ⅴ": "劣V"}
NAMES_ZH = {"高锰酸盐指数": "codmn", "氨氮": "nh3n", "溶解氧": "do"}


def _boundary_cases():
    for r in TABLE1:
        lims = [float(r[c]) for c in CLASSES]
        for i, _cls in enumerate(CLASSES):
            # the best class meeting the limit: classes sharing a limit resolve to the better one
            best = next(CLASSES[j] for j in range(len(CLASSES)) if lims[j] == lims[i])
            eps = lims[i] * 1e-3
            worse = CLASSES[i + 1] if i + 1 < len(CLASSES) else "劣V"
            if r["direction"] == "max":
                nxt = next(
                    (CLASSES[j] for j in range(i + 1, len(CLASSES)) if lims[j] > lims[i]), "劣V"
                )
                yield r["parameter"], r["waterbody"], lims[i], best
                yield r["parameter"], r["waterbody"], lims[i] + eps, nxt
            else:  # DO: at the limit meets it, just below falls to the next class
                yield r["parameter"], r["waterbody"], lims[i], best
                yield r["parameter"], r["waterbody"], lims[i] - eps, worse


CASES = list(_boundary_cases())


@pytest.mark.parametrize(("parameter", "waterbody", "value", "expected"), CASES)
def test_gb3838_boundaries(parameter, waterbody, value, expected):
    body = "lake" if waterbody == "lake" else "river"
    assert parameter_class(parameter, value, body) == expected


def test_ph_range_and_tp_lake_vs_river():
    assert [parameter_class("ph", v) for v in (5.99, 6.0, 9.0, 9.01)] == ["劣V", "I", "I", "劣V"]
    assert (
        parameter_class("tp", 0.05, "river") == "II"
        and parameter_class("tp", 0.05, "lake") == "III"
    )


def test_published_2007_weekly_sample():
    with SAMPLE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    for r in rows:
        values = {
            "ph": float(r["ph"]),
            "do": float(r["do_mg_l"]),
            "codmn": float(r["codmn_mg_l"]),
            "nh3n": float(r["nh3n_mg_l"]),
        }
        res = classify(values, "river", target="III")
        assert res.water_class == ROMAN[r["class_this_week"]], r["site"]
        published = {NAMES_ZH[n] for n in r["main_pollutants"].split(",") if n}
        assert set(res.exceeding_parameters) == published, r[
            "site"
        ]  # 主要污染指标 = items worse than III


def test_water_class_frame_and_multiples():
    frame = pl.DataFrame(
        {
            "waterbody": ["river", "lake"],
            "nh3n_mgl": [1.77, 0.3],
            "tp_mgl": [0.1, 0.1],
            "target": ["III", "II"],
        }
    )
    out = water_class(frame, target_column="target")
    assert out["class"].to_list() == ["V", "IV"]
    assert out["limiting_parameters"].to_list() == ["nh3n", "tp"]
    assert out["compliant"].to_list() == [False, False]
    assert out["exceedance_multiples"].to_list() == [
        "nh3n=0.77",
        "tp=3.00",
    ]  # (1.77−1)/1, (0.1−0.025)/0.025


def test_energy_average():
    assert energy_average([60, 70]) == pytest.approx(
        10 * math.log10((1e6 + 1e7) / 2)
    )  # 67.4 (noise.md §4)
    assert round(energy_average([60, 70]), 1) == 67.4
    assert energy_average([55.0] * 16) == pytest.approx(55.0)
    assert energy_average([60, 70], durations=[3, 1]) == pytest.approx(
        10 * math.log10((3e6 + 1e7) / 4)
    )


SH = ZoneInfo("Asia/Shanghai")


def _noise_rows(
    day: dt.date, day_level: float, night_level: float, zone: str = "1"
) -> pl.DataFrame:
    ts, lv = [], []
    for h in range(24):
        ts.append(dt.datetime(day.year, day.month, day.day, h, tzinfo=SH))
        lv.append(day_level if 6 <= h < 22 else night_level)
    return pl.DataFrame(
        {"site": "N", "zone": zone, "period_start": ts, "leq_dba": lv},
        schema={
            "site": pl.String,
            "zone": pl.String,
            "period_start": pl.Datetime("us", "Asia/Shanghai"),
            "leq_dba": pl.Float64,
        },
    )


@pytest.mark.parametrize(
    ("zone", "day", "night"),
    [("0", 50, 40), ("1", 55, 45), ("2", 60, 50), ("3", 65, 55), ("4a", 70, 55), ("4b", 70, 60)],
)
def test_zone_limits_and_compliance_both_sides(zone, day, night):
    assert zone_limits(zone) == (day, night)  # GB 3096-2008 Table 1 (noise.md §2)
    at = (
        noise_levels(_noise_rows(dt.date(2024, 5, 1), day, night, zone))
        .filter(pl.col("date") == dt.date(2024, 5, 1))
        .row(0, named=True)
    )
    assert (at["ld_dba"], at["ld_limit_dba"], at["day_exceeds"]) == (day, day, False)
    above = (
        noise_levels(_noise_rows(dt.date(2024, 5, 1), day + 0.1, night + 0.1, zone))
        .filter(pl.col("date") == dt.date(2024, 5, 1))
        .row(0, named=True)
    )
    assert above["day_exceeds"] is True
    # the night of 05-01 has only its 22–24 h here (00–06 belongs to the night of 04-30): 2 of
    # its 8 hours make no Ln (issue #19 item 7; both sides of the night limit: test_noise_gb12348)
    assert above["ln_dba"] is None and above["night_exceeds"] is None
    assert above["ln_missing_reason"] == "2 of 8 night-time hours valid, 8 required"


def test_night_spans_midnight_and_day_is_energy_mean():
    rows = pl.concat(
        [_noise_rows(dt.date(2024, 5, 1), 60, 50), _noise_rows(dt.date(2024, 5, 2), 60, 40)]
    )
    out = noise_levels(rows).filter(pl.col("date") == dt.date(2024, 5, 1)).row(0, named=True)
    # night of 05-01: 22,23 h at 50 and 00..05 h of 05-02 at 40
    expect = 10 * math.log10((2 * 10**5 + 6 * 10**4) / 8)
    assert out["ln_dba"] == pytest.approx(round(expect, 1))


def test_night_maximum_rule():
    # GB 3096-2008: night maximum may exceed the limit by at most 15 dB(A)
    assert not night_max_exceeds(45 + 15, "1") and night_max_exceeds(45 + 15.1, "1")


def test_o2_correction():
    # C_zs = C × (21 − O2_ref) / (21 − O2_meas): 100 × 15 / 12 = 125 (coal power, ref 6 %)
    assert o2_corrected(100.0, 9.0, reference_o2("power_boiler_coal")) == pytest.approx(125.0)
    assert o2_corrected(100.0, 21.0, 6.0) is None
    assert o2_corrected(100.0, 19.5, 6.0, o2_max_pct=19.0) is None
    series = o2_corrected(pl.Series([100.0, 80.0]), pl.Series([9.0, 3.5]), 3.5)
    assert series.to_list() == pytest.approx([100 * 17.5 / 12, 80.0])


def test_loads_hourly_validity_and_totals():
    assert emission_load_kg_h(50.0, 1_000_000.0) == pytest.approx(
        50.0
    )  # 50 mg/m³ × 1e6 m³/h = 50 kg/h
    start = dt.datetime(2024, 1, 1, tzinfo=SH)
    ts = [start + dt.timedelta(minutes=m) for m in range(120)]
    conc = [30.0] * 45 + [None] * 15 + [30.0] * 44 + [None] * 16  # hour 1: 45 valid, hour 2: 44
    minutes = pl.DataFrame(
        {"point": "P", "period_start": ts, "c_mgm3": conc, "flow_m3h": [2e5] * 120},
        schema_overrides={"period_start": pl.Datetime("us", "Asia/Shanghai")},
    )
    hourly = hourly_emissions(minutes)
    # the load is the sum of the 45 one-minute slices with data (HJ 212-2017 Appendix D), not
    # scaled up to 60 minutes: 45 × 30 mg/m³ × 2e5 m³/h × 1e-6 × 1/60 h = 4.5 kg
    assert hourly["valid"].to_list() == [True, False] and hourly["load_kg"].to_list() == [
        pytest.approx(4.5),
        None,
    ]
    assert hourly["valid_minutes"].to_list() == [45, 44]
    totals = emission_totals(hourly, "day", permitted_kg={"P": 4.0}).row(0, named=True)
    assert (
        totals["total_kg"] == pytest.approx(4.5) and totals["over_permit"] and not totals["valid"]
    )


def _records(interval_s, concs, flows, o2=None, start=None):  # type: ignore[no-untyped-def]
    start = start or dt.datetime(2024, 1, 1, tzinfo=SH)
    n = len(concs)
    data = {
        "point": "P", "period_start": [start + dt.timedelta(seconds=interval_s * i) for i in range(n)],
        "interval_s": [interval_s] * n, "c_mgm3": concs, "flow_m3h": flows,
    }  # fmt: skip
    if o2 is not None:
        data |= {"o2_pct": [o2] * n, "o2_ref_pct": [6.0] * n}
    return pl.DataFrame(data, schema_overrides={"period_start": pl.Datetime("us", "Asia/Shanghai")})


def test_slice_sum_load_issue_example():
    # HJ 212-2017 Appendix D: a period's load is the sum of its slices' loads. 30 min at
    # 100 mg/m³ & 100 000 m³/h, then 30 min at 10 mg/m³ & 300 000 m³/h:
    # 100 × 1e5 × 1e-6 × 0.5 + 10 × 3e5 × 1e-6 × 0.5 = 5.0 + 1.5 = 6.5 kg (mean × mean: 11.0)
    assert slice_load_kg(100.0, 1e5, 1800) == pytest.approx(5.0)
    for iv in (60, 300, 600):
        n = 1800 // iv
        out = hourly_emissions(_records(iv, [100.0] * n + [10.0] * n, [1e5] * n + [3e5] * n))
        row = out.row(0, named=True)
        assert row["load_kg"] == pytest.approx(6.5) and row["valid_minutes"] == 60, iv
        assert row["c_mgm3"] == pytest.approx(55.0)


def test_coverage_minutes_of_5_and_10_minute_records_both_sides():
    # HJ 75-2017 / GB 3095 Table 4: 45 minutes of valid data = records × interval / 60
    ok = [
        hourly_emissions(_records(iv, [30.0] * n, [1e5] * n))["valid"][0]
        for iv, n in ((60, 44), (60, 45), (300, 8), (300, 9), (600, 4), (600, 5))
    ]
    assert ok == [False, True, False, True, False, True]


def test_o2_cap_at_and_just_under_and_above():
    # HJ 75-2017 shut-down / purge periods: O2 above the cap (tables/emission_o2_cap.csv, 20 %:
    # the higher end of the reference's "~19–20 %", review T9; status UNCONFIRMED) is not
    # operating: no correction, no exceedance
    cap = o2_cap_pct()
    row = tables.one("emission_o2_cap", edition="HJ75-2017")
    assert cap == 20.0 and row["status"].startswith("UNCONFIRMED") and row["clause"]
    assert o2_corrected(10.0, 20.0, 6.0, o2_max_pct=cap) == pytest.approx(150.0)  # 10 × 15 / 1
    assert o2_corrected(10.0, 19.9, 6.0, o2_max_pct=cap) == pytest.approx(150 / 1.1)
    assert o2_corrected(10.0, 20.01, 6.0, o2_max_pct=cap) is None
    assert not_operating_reason(20.0, 1e5) is None
    assert not_operating_reason(20.01, 1e5) == "O2 20.01 % > cap 20 %"
    assert not_operating_reason(20.9, 1e5) == "O2 20.9 % > cap 20 %"
    assert not_operating_reason(20.9, 1e5, flue=False) is None  # the O2 rule is flue gas only
    assert not_operating_reason(9.0, 0.0) == "zero flow"
    # one rule (review T8): zero flow is named first, also when the O2 is above the cap
    assert not_operating_reason(20.9, 0.0) == "zero flow"
    at_cap = hourly_emissions(_records(600, [10.0] * 6, [1e5] * 6, o2=20.0)).row(0, named=True)
    assert at_cap["operating"] and at_cap["c_zs_mgm3"] == pytest.approx(150.0)
    purge = hourly_emissions(_records(600, [10.0] * 6, [1e5] * 6, o2=20.9)).row(0, named=True)
    # uncapped: 10 × 15 / 0.1 = 1 500 mg/m³; capped: not operating, no corrected value
    assert not purge["operating"] and purge["c_zs_mgm3"] is None
    assert purge["reason"] == "not operating: O2 20.9 % > cap 20 %"
    stopped = hourly_emissions(_records(600, [10.0] * 6, [0.0] * 6, o2=9.0)).row(0, named=True)
    assert not stopped["operating"] and stopped["reason"] == "not operating: zero flow"
    assert stopped["load_kg"] == 0.0
