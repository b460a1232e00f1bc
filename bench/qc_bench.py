"""QC throughput benchmark (prints figures; asserts nothing about timings).

1. Pure checks: a month of minute data for 100 outlets x 8 parameters (~34.6 million
   readings), generated in-process with numpy in chunks of outlets, run through every
   vectorised check of transforms.qc.checks; readings checked per second and peak memory.
2. Baseline: a straightforward pandas groupby/rolling implementation on a subset, and the ratio.
3. Full warehouse path (read from DuckDB, engine, reconcile and store flags) on a smaller size.

Usage: .venv/bin/python bench/qc_bench.py [--outlets 100] [--days 30] [--chunk-outlets 10]
       [--baseline-outlets 2] [--warehouse-outlets 10] [--warehouse-days 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from transforms.qc import checks  # noqa: E402
from transforms.qc.flags import Flag  # noqa: E402

PARAMS = ("so2", "nox", "dust", "o2", "flue_flow", "flue_temp", "flue_velocity", "flue_pressure")
LEVEL = np.array([22.0, 45.0, 6.0, 8.0, 450000.0, 95.0, 14.0, -0.3])
PHYS = np.array([[0, 10000], [0, 5000], [0, 5000], [0, 21], [0, 1e8], [-40, 600], [0, 60], [-20, 20]], dtype=float)
T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp())
SCALE = np.abs(LEVEL)  # per-parameter threshold scale (flue pressure is negative)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(outlets: int, minutes: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Series back to back (outlet-major, then parameter), each sorted by time, with faults."""
    n_series = outlets * len(PARAMS)
    p_idx = np.tile(np.arange(len(PARAMS)), outlets)
    level = LEVEL[p_idx][:, None]
    values = level * (1 + 0.05 * rng.standard_normal((n_series, minutes)))
    values[:, 1000:1040] = values[:, 1000:1001]  # a stuck analyser: 40 equal minutes
    values[:, minutes // 2] *= 8.0  # a spike
    values[rng.random((n_series, minutes)) < 0.001] = np.nan  # missing values
    values = values.ravel()
    t = np.tile(T0 + np.arange(minutes, dtype=np.int64) * 60, n_series)
    new = np.zeros(n_series * minutes, dtype=bool)
    new[::minutes] = True
    row_p = np.repeat(p_idx, minutes)
    codes = (rng.random(n_series * minutes) < 0.002).astype(np.int8)  # 0 = N, 1 = M
    return {"value": values, "t": t, "new": new, "p": row_p, "codes": codes}


def run_checks(d: dict[str, np.ndarray]) -> np.ndarray:
    """Every check, per-row thresholds broadcast from the parameter (as the engine does)."""
    v, t, new, p = d["value"], d["t"], d["new"], d["p"]
    phys_lo, phys_hi = PHYS[p, 0], PHYS[p, 1]
    inst_hi = (SCALE * 10)[p]
    out = checks.missing(v)
    np.maximum(out, checks.gross_range(v, phys_lo, phys_hi, np.nan, inst_hi), out=out)
    np.maximum(out, checks.flat_line(v, t, 60, new, 30.0), out=out)
    np.maximum(out, checks.spike(v, t, 60, new, (SCALE * 2)[p]), out=out)
    np.maximum(out, checks.rate_of_change(v, t, new, (SCALE * 60)[p]), out=out)
    np.maximum(out, checks.non_positive(v, True, Flag.FAIL, p != 7), out=out)
    np.maximum(out, checks.source_flag(d["codes"], np.array([0, 2], dtype=np.int8)), out=out)
    np.maximum(out, checks.in_future(t, T0 + 40 * 86400, 300), out=out)
    np.maximum(out, checks.outside_service(t, float(T0 - 86400), np.nan), out=out)
    return out


def bench_pure(outlets: int, days: int, chunk_outlets: int) -> float:
    rng = np.random.default_rng(7)
    minutes = days * 1440
    total, check_s, flagged = 0, 0.0, np.zeros(4, dtype=np.int64)
    for start in range(0, outlets, chunk_outlets):
        d = generate(min(chunk_outlets, outlets - start), minutes, rng)
        t0 = time.perf_counter()
        verdict = run_checks(d)
        check_s += time.perf_counter() - t0
        total += len(verdict)
        flagged += np.bincount(verdict, minlength=4)
        del d, verdict
    rate = total / check_s
    print(f"[pure checks] {outlets} outlets x {len(PARAMS)} parameters x {days} days of minute data = {total:,} readings")
    print(f"  9 checks in {check_s:.2f} s -> {rate / 1e6:.2f} million readings/s "
          f"(chunks of {chunk_outlets} outlets = {chunk_outlets * len(PARAMS) * minutes:,} readings)")
    print(f"  verdicts: pass {flagged[0]:,}, suspect {flagged[1]:,}, fail {flagged[2]:,}, missing {flagged[3]:,}")
    print(f"  peak RSS so far {peak_rss_mb():.0f} MB")
    return rate


def baseline_pandas(d: dict[str, np.ndarray]) -> np.ndarray:
    """A straightforward pandas version: groupby per series, rolling windows, shifts."""
    df = pd.DataFrame({"series": np.cumsum(d["new"]), "v": d["value"], "t": d["t"], "p": d["p"], "code": d["codes"]})
    g = df.groupby("series")["v"]
    flag = np.where(df["v"].isna(), 3, 0)
    lo, hi = PHYS[df["p"], 0], PHYS[df["p"], 1]
    flag = np.maximum(flag, np.where((df["v"] < lo) | (df["v"] > hi), 2, np.where(df["v"] > (SCALE * 10)[df["p"]], 1, 0)))
    # flat line: rolling max - min == 0 over 30 values, spread back over the window
    span = g.rolling(30).apply(lambda w: w.max() - w.min(), raw=True).reset_index(level=0, drop=True)
    stuck = (span == 0).astype(float)
    stuck = stuck.groupby(df["series"]).transform(lambda s: s[::-1].rolling(30, min_periods=1).max()[::-1])
    flag = np.maximum(flag, np.where(stuck > 0, 1, 0))
    prev, nxt = g.shift(1), g.shift(-1)
    spk = (df["v"] - (prev + nxt) / 2).abs() - (nxt - prev).abs() / 2
    flag = np.maximum(flag, np.where(spk > (SCALE * 2)[df["p"]], 1, 0))
    roc = g.diff().abs() / (df.groupby("series")["t"].diff() / 3600)
    flag = np.maximum(flag, np.where(roc > (SCALE * 60)[df["p"]], 1, 0))
    flag = np.maximum(flag, np.where(df["code"] == 1, 2, 0))
    return flag


def bench_baseline(outlets: int, days: int, pure_rate: float) -> None:
    d = generate(outlets, days * 1440, np.random.default_rng(7))
    n = len(d["value"])
    t0 = time.perf_counter()
    baseline_pandas(d)
    base_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_checks(d)
    ours_s = time.perf_counter() - t0
    print(f"[baseline] pandas groupby/rolling on {outlets} outlets ({n:,} readings): {base_s:.2f} s -> "
          f"{n / base_s / 1e6:.3f} million readings/s; vectorised checks on the same subset {ours_s:.3f} s "
          f"-> ratio x{base_s / ours_s:.0f} (full-size pure rate / baseline: x{pure_rate / (n / base_s):.0f})")


def bench_warehouse(outlets: int, days: int) -> None:
    import pyarrow as pa
    import yaml

    from core.settings import reset_settings_cache
    from transforms.qc.run import run_qc_on

    home = Path(tempfile.mkdtemp(prefix="qc_bench_"))
    os.environ["ENVMON_HOME"] = str(home)
    reset_settings_cache()
    from core.settings import get_settings
    from warehouse.db import connect
    from warehouse.migrate import migrate

    settings = get_settings()
    mig = home / "migrations"
    mig.mkdir()
    for path in (REPO / "warehouse" / "migrations").glob("*.sql"):
        if path.name.startswith("0001_") or path.name[:3] == "004":
            (mig / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (home / "views").mkdir()
    reg = REPO / "config" / "registry"
    units = yaml.safe_load((reg / "units.yaml").read_text(encoding="utf-8"))["units"]
    params = yaml.safe_load((reg / "parameters.yaml").read_text(encoding="utf-8"))["parameters"]
    minutes = days * 1440
    d = generate(outlets, minutes, np.random.default_rng(7))
    n = len(d["value"])
    unit_of = {p["parameter"]: p["unit"] for p in params}
    site = np.repeat([f"bench_{i:03d}" for i in range(outlets)], len(PARAMS) * minutes)
    readings = pa.table({
        "site_id": site, "parameter": np.array(PARAMS)[d["p"]],
        "period_start": pa.array(d["t"] * 1_000_000, pa.timestamp("us", tz="UTC")),
        "interval_s": pa.array(np.full(n, 60, np.int32)), "source_kind": np.full(n, "hj212"),
        "value": d["value"], "unit": np.array([unit_of[p] for p in PARAMS])[d["p"]],
        "flag": np.array(["N", "M"])[d["codes"]], "received_at": pa.array(np.full(n, T0 * 1_000_000), pa.timestamp("us", tz="UTC")),
        "batch_id": np.full(n, "bench"),
    })
    with connect(settings) as con:
        migrate(con, mig, home / "views")
        con.executemany("INSERT INTO units VALUES (?, ?, ?, ?)", [(u["unit"], u["quantity"], u["to_base"], u["name_zh"]) for u in units])
        con.executemany("INSERT INTO parameters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [(p["parameter"], p["name_en"], p["name_zh"], p["domain"], p["unit"], p.get("hj212_2017_code"),
                          p.get("hj212_2005_code"), p.get("min_possible"), p.get("max_possible"), p.get("decimals")) for p in params])
        con.executemany("INSERT INTO sites (site_id, kind, name_zh, name_en, grid_id, timezone, commissioned_on) VALUES (?, 'outlet', ?, ?, 'g', 'Asia/Shanghai', ?)",
                        [(f"bench_{i:03d}", "x", "x", date(2020, 1, 1)) for i in range(outlets)])
        con.register("bench_rows", readings)
        con.execute("INSERT INTO readings BY NAME SELECT * FROM bench_rows")
        con.unregister("bench_rows")
        con.execute("INSERT INTO load_ledger VALUES ('bench', 'readings', 'hj212', 'x', ?, ?, 0, 0, ?)", [n, n, datetime.now(UTC)])
        lo = datetime.fromtimestamp(T0, UTC)
        hi = lo + timedelta(days=days)
        for label in ("first run", "re-run (no changes)"):
            t0 = time.perf_counter()
            report = run_qc_on(con, settings, lo, hi, now=hi + timedelta(days=1))
            s = time.perf_counter() - t0
            print(f"[warehouse] {label}: {report.readings:,} readings in {s:.2f} s -> {report.readings / s / 1e6:.2f} million readings/s "
                  f"({report.flags:,} flags, {report.inserted:,} inserted, {report.deleted:,} deleted)")
    print(f"  peak RSS {peak_rss_mb():.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outlets", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--chunk-outlets", type=int, default=10)
    ap.add_argument("--baseline-outlets", type=int, default=2)
    ap.add_argument("--warehouse-outlets", type=int, default=10)
    ap.add_argument("--warehouse-days", type=int, default=2)
    a = ap.parse_args()
    print(f"cpus: {os.cpu_count()}, numpy {np.__version__}, pandas {pd.__version__}")
    rate = bench_pure(a.outlets, a.days, a.chunk_outlets)
    bench_baseline(a.baseline_outlets, a.days, rate)
    if a.warehouse_outlets:
        bench_warehouse(a.warehouse_outlets, a.warehouse_days)


if __name__ == "__main__":
    main()
