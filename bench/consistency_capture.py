"""The data-consistency rule on the real capture: how often would it fire on real loggers?

    python bench/consistency_capture.py [CAPTURE_DIR]

Reads the real HJ 212 capture (../shared/data/hj212_capture_2016-08-24, 2005-style codes),
parses every record with envmon's parser (`ingest.hj212.protocol.try_parse`), and per data
logger (MN), pollutant and hour compares the logger's own hourly value (CN 2061 `Avg`) with the
mean of its minute records (CN 2051 `Avg`) of the same hour, when those cover >= 45 minutes
(records × the logger's minute interval, the step between its consecutive 2051 records). The
hour label (start or end of the hour) is chosen per logger as the one under which more of its
hours agree within 1 % (issue #17, item 3). Each comparison goes through the shipped rules'
own judgement (`ConsistencyRule.judge` of outlet_logger_hour_inconsistent for flue gas,
outlet_logger_water_hour_inconsistent for waste water, with their tolerance and floor). Then
the compared hours go through the real evaluation (`alerts.jobs.evaluate_rules`, durations and
cases as configured) in a throw-away warehouse: the alerts and cases the capture would open.

Values are taken as mg/m3 (flue gas: 01 dust, 02 SO2, 03 NOx) and mg/L (waste water: 011 COD,
060 NH3-N), the 2005 edition's units. Prints figures only.
"""

from __future__ import annotations

import gzip
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

from alerts.rules import ConsistencyRule, load_rules
from core.registry.config import load_registry
from ingest.hj212.protocol import try_parse

REPO = Path(__file__).resolve().parents[1]
CAPTURE = REPO.parent / "shared" / "data" / "hj212_capture_2016-08-24"
GAS = {"01": "dust", "02": "so2", "03": "nox"}
WATER = {"011": "cod", "060": "nh3n"}
HOUR = timedelta(hours=1)


def read(capture: Path) -> tuple[dict, dict, int, int]:
    """minutes[(mn, code)] -> [(datatime, avg)], hours[(mn, code, datatime)] -> avg."""
    minutes: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    hours: dict[tuple[str, str, datetime], float] = {}
    records = rejected = 0
    for path in sorted(capture.glob("*.h212.gz")):
        for raw in gzip.decompress(path.read_bytes()).split(b"\r\n"):
            if not raw.strip():
                continue
            records += 1
            result = try_parse(raw, max_future=None)
            if not result.ok or result.packet is None:
                rejected += 1
                continue
            p = result.packet
            if p.cn not in ("2051", "2061") or p.mn is None or p.datatime is None:
                continue
            for group in p.cp:
                for f in group:
                    code, _, kind = f.key.partition("-")
                    if kind != "Avg" or f.value is None or (code not in GAS and code not in WATER):
                        continue
                    if p.cn == "2051":
                        minutes[(p.mn, code)].append((p.datatime, f.value))
                    else:
                        hours[(p.mn, code, p.datatime)] = f.value
    return minutes, hours, records, rejected


def interval_s(series: list[tuple[datetime, float]]) -> int | None:
    times = sorted({t for t, _ in series})
    steps = [int((b - a).total_seconds()) for a, b in pairwise(times)]
    steps = [s for s in steps if 0 < s <= 3600]
    return statistics.mode(steps) if steps else None


def derived(series, hour_label_end: bool, label: datetime, step: int) -> float | None:
    """Mean of the minute records of the hour labelled `label`, if they cover >= 45 min."""
    if hour_label_end:  # the hour [label − 1 h, label); a record labelled t covers [t − step, t)
        values = [v for t, v in series if label - HOUR < t <= label]
    else:  # the hour [label, label + 1 h); records labelled by their start
        values = [v for t, v in series if label <= t < label + HOUR]
    if len(values) * step / 60 < 45:
        return None
    return sum(values) / len(values)


def through_the_rules(
    outlet_hours: list[tuple[str, str, datetime, str, float, float]], rule_ids: list[str]
) -> None:
    """The compared hours as outlet_hours rows in a fresh warehouse (a temporary ENVMON_HOME;
    each MN entered as an outlet site of the registry's first grid, as enrolment would), then
    the real rule evaluation (alerts.jobs.evaluate_rules) over the day, twice."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="envmon_consistency_bench_") as home:
        os.environ["ENVMON_HOME"] = home
        _evaluate(outlet_hours, rule_ids)


def _evaluate(
    outlet_hours: list[tuple[str, str, datetime, str, float, float]], rule_ids: list[str]
) -> None:
    from alerts.jobs import evaluate_rules
    from core.settings import get_settings, reset_settings_cache
    from warehouse.db import connect
    from warehouse.jobs import init_warehouse, load_registry_job

    reset_settings_cache()
    settings = get_settings()
    init_warehouse(settings)
    load_registry_job(settings)
    mns = sorted({r[0] for r in outlet_hours})
    with connect(settings) as con:
        (grid,) = con.execute("SELECT min(grid_id) FROM grids WHERE NOT special").fetchone()
        con.executemany(
            "INSERT INTO sites (site_id, kind, name_zh, name_en, grid_id, timezone) "
            "VALUES (?, 'outlet', ?, ?, ?, 'Asia/Shanghai')",
            [(mn, f"抓包数采仪 {mn}", f"capture logger {mn}", grid) for mn in mns],
        )
        con.executemany(
            "INSERT INTO outlet_hours (site_id, parameter, period_start, unit, official_value, "
            "obtained, valid, derived_value, covered_minutes, logger_value, operating, computed_at) "
            "VALUES (?, ?, ?, ?, ?, 'logger', true, ?, 60, ?, true, now())",
            [(mn, p, ps, unit, logger, d, logger) for mn, p, ps, unit, logger, d in outlet_hours],
        )
    lo = min(r[2] for r in outlet_hours)
    hi = max(r[2] for r in outlet_hours) + HOUR
    t = time.perf_counter()
    report = evaluate_rules(settings, lo, hi, rule_ids=rule_ids)
    took = time.perf_counter() - t
    again = evaluate_rules(settings, lo, hi, rule_ids=rule_ids)
    with connect(settings, write=False) as con:
        alerts = con.execute(
            "SELECT rule_id, site_id, parameter, periods_exceeded FROM alerts ORDER BY ALL"
        ).fetchall()
        (cases,) = con.execute("SELECT count(*) FROM cases").fetchone()
    print(
        f"evaluate_rules over {len(outlet_hours):,} outlet hours of {len(mns)} loggers: "
        f"{report.periods_evaluated:,} periods in {took:.2f} s; {len(report.alerts_opened)} alerts "
        f"and {len(report.cases_opened)} cases opened; the same run again: "
        f"{len(again.alerts_opened)} alerts, {again.periods_evaluated} periods"
    )
    for rule_id, site_id, parameter, n in alerts:
        print(f"  alert {rule_id} {site_id} {parameter}: {n} hours beyond the tolerance")
    print(f"  cases: {cases}")


def main() -> None:
    capture = Path(sys.argv[1]) if len(sys.argv) > 1 else CAPTURE
    t0 = time.perf_counter()
    minutes, hours, records, rejected = read(capture)
    t1 = time.perf_counter()
    rules = load_rules(REPO / "config", load_registry(REPO / "config"))
    gas: ConsistencyRule = rules.by_id["outlet_logger_hour_inconsistent"]
    water: ConsistencyRule = rules.by_id["outlet_logger_water_hour_inconsistent"]
    print(
        f"capture: {records:,} records, {rejected:,} rejected by the parser; "
        f"read and parsed in {t1 - t0:.1f} s"
    )

    by_series: dict[tuple[str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for (mn, code, label), value in hours.items():
        by_series[(mn, code)].append((label, value))
    # per logger: the hour label under which more hours agree within 1 %
    agree: dict[str, Counter] = defaultdict(Counter)
    for (mn, code), logged in by_series.items():
        series = minutes.get((mn, code), [])
        step = interval_s(series)
        if step is None:
            continue
        for label, value in logged:
            for end in (False, True):
                d = derived(series, end, label, step)
                if d is not None and abs(value - d) <= 0.01 * max(abs(d), 1e-9):
                    agree[mn][end] += 1
    labels = {mn: c[True] >= c[False] for mn, c in agree.items()}
    ends = sum(labels.values())
    print(f"hour label per logger: end {ends}, start {len(labels) - ends}")

    compared: list[tuple[str, str, datetime, str, float, float]] = []
    worst: list[tuple[float, str, str, datetime, float, float]] = []
    per_rule: Counter = Counter()
    for (mn, code), logged in sorted(by_series.items()):
        series = minutes.get((mn, code), [])
        step = interval_s(series)
        if step is None or mn not in labels:
            continue
        rule = gas if code in GAS else water
        parameter, unit = (GAS[code], "mg/m3") if code in GAS else (WATER[code], "mg/L")
        for label, value in sorted(logged):
            d = derived(series, labels[mn], label, step)
            if d is None:
                continue
            diff, allowed, bad = rule.judge(value, d, rule.absolute_floor.value)
            per_rule[(rule.rule_id, bad)] += 1
            start = (label - HOUR if labels[mn] else label).astimezone(UTC)
            compared.append((mn, parameter, start, unit, value, d))
            if bad:
                worst.append((diff / allowed, mn, code, label, value, d))
    t2 = time.perf_counter()
    beyond = len(worst)
    print(f"(logger, pollutant, hour) pairs with both values: {len(compared):,}")
    for rule in (gas, water):
        ok, bad = per_rule[(rule.rule_id, False)], per_rule[(rule.rule_id, True)]
        share = bad / (ok + bad) if ok + bad else 0.0
        print(
            f"  {rule.rule_id}: {ok + bad:,} pairs, {bad:,} beyond "
            f"max({rule.relative_tolerance:g} × derived, {rule.absolute_floor.value:g} "
            f"{rule.absolute_floor.unit}) = {share:.1%}"
        )
    print(
        f"beyond the tolerance: {beyond:,} of {len(compared):,} ({beyond / max(len(compared), 1):.1%})"
    )
    print(
        "largest disagreements (difference ÷ allowed, MN, code, hour label, logger Avg, minute mean):"
    )
    for ratio, mn, code, label, value, d in sorted(worst, reverse=True)[:8]:
        print(f"  {ratio:8.1f}  {mn} {code:>3} {label:%H:%M} logger {value:g} minutes {d:.4g}")
    print(f"compared in {t2 - t1:.1f} s")
    through_the_rules(compared, [gas.rule_id, water.rule_id])


if __name__ == "__main__":
    main()
