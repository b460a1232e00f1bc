"""Province benchmark: a generated province-day through the nightly run, as the DAGs run it.

For each scale (1x = 3,000 outlets x 8 parameters of minute data, ~34 million readings, plus
500 air stations, 300 water sections and 1,000 noise points):

1. generate the registry (YAML in a temporary ENVMON_CONFIG_DIR) and the day's landing batches
   (bench/province_data.py), then create the warehouse and load the registry;
2. run the `daily` DAG's tasks in its order, each in its own process like an Airflow task
   (bench/province_stage.py -> envmon.pipeline): load+validate, QC, hourly aggregates, daily
   aggregates (AQI, emissions, water, noise), availability, rules and cases, daily report —
   timed, with each process's peak RSS; a stage whose function does not exist is "missing";
3. the floor: a bare DuckDB scan (hourly then daily means straight off the landing Parquet);
4. the baseline (scale 1 only): the same stages written in pandas (bench/province_pandas.py), run
   on `--pandas-fraction` of the province and extrapolated linearly by readings (said so);
5. optionally (`--partitioned`), the derivations split by region and run by `--workers`
   concurrent processes reading the warehouse read-only, then one writer; tables compared.

Usage:  .venv/bin/python bench/province.py --fraction 0.02                 (development)
        .venv/bin/python bench/province.py --scales 1 2 4 --partitioned    (the figures)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.province_data import ProvinceShape, write_config, write_day  # noqa: E402
from bench.province_stage import PREFIX  # noqa: E402

NIGHTLY = (
    "load",
    "validate",
    "qc",
    "aggregate_hours",
    "aggregate_day",
    "availability",
    "alerts",
    "publish",
)
AGGREGATION = ("aggregate_hours", "aggregate_day")
TARGETS = {"nightly_s": 300, "vs_pandas": 10, "vs_scan": 3, "peak_gb": 6}
STAGE_TIMEOUT_S = 3600


def stage(
    env: dict[str, str],
    name: str,
    day: date,
    arg: str | None = None,
    timeout_s: float = STAGE_TIMEOUT_S,
) -> dict:
    """Run one stage in its own process; its report, with the process's wall time."""
    args = [sys.executable, str(REPO / "bench" / "province_stage.py"), name, day.isoformat()]
    if arg is not None:
        args.append(arg)
    started = time.perf_counter()
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        wall = time.perf_counter() - started
        return {
            "stage": name,
            "arg": arg,
            "status": "budget",
            "seconds": wall,
            "wall_s": round(wall, 2),
            "peak_rss_mb": 0.0,
        }
    wall = time.perf_counter() - started
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(PREFIX)]
    if not lines:
        return {"stage": name, "arg": arg, "status": "failed", "seconds": wall, "peak_rss_mb": 0.0,
                "error": f"exit {done.returncode}: {done.stderr[-2000:]}"}  # fmt: skip
    out = json.loads(lines[-1].removeprefix(PREFIX))
    out["wall_s"] = round(wall, 2)
    return out


def home_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("ENVMON_SETTINGS", "ENVMON_WAREHOUSE", "ENVMON_LANDING", "ENVMON_SITE_DIR"):
        env.pop(var, None)
    env.update(
        ENVMON_HOME=str(home), ENVMON_CONFIG_DIR=str(home / "config"), ENVMON_TZ="Asia/Shanghai"
    )
    return env


def prepare(home: Path, shape: ProvinceShape, day: date) -> dict:
    """Registry, landing batches, warehouse and registry load (not part of the nightly run)."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    write_config(home / "config", shape)
    from core.landing import LandingZone

    gen = write_day(LandingZone(home / "landing"), shape, day)
    env = home_env(home)
    setup = ("from warehouse.jobs import init_warehouse, load_registry_job; "
             "init_warehouse(); load_registry_job()")  # fmt: skip
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", setup], env=env, check=True, cwd=REPO)
    return {"readings": gen.readings, "batches": gen.batches, "generate_s": round(gen.seconds, 1),
            "setup_s": round(time.perf_counter() - started, 1)}  # fmt: skip


def extrapolate_validation(env: dict[str, str], seconds: float) -> dict:
    """validate_batches stopped at its budget: batches done so far -> time for all, linearly."""
    code = (
        "from warehouse.db import connect\n"
        "with connect(write=False) as con:\n"
        '    v, t = con.execute("SELECT (SELECT count(DISTINCT batch_id) FROM validation_runs), '
        "(SELECT count(*) FROM load_ledger WHERE kind = 'readings')\").fetchall()[0]\n"
        "print(v, t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    validated, total = (int(x) for x in done.stdout.split()[-2:])
    estimate = seconds * total / max(validated, 1)
    note = f"stopped at the {seconds:.0f} s budget after {validated} of {total} batches; extrapolated linearly"
    return {"status": "ok", "seconds": round(estimate, 1), "extrapolated": True, "error": note}


def run_partitioned(env: dict[str, str], day: date, workers: int) -> dict:
    """Region partitions by `workers` concurrent read-only processes, then the single writer;
    then compare the warehouse tables with a snapshot of the unpartitioned run's, row by row."""
    snap = Path(env["ENVMON_HOME"]) / "snapshot"
    snap.mkdir(exist_ok=True)
    pre = (
        f"import json, sys, datetime as dt; sys.path.insert(0, {str(REPO)!r})\n"
        "from bench.province_data import day_bounds\n"
        "from bench import province_compare as c\n"
        "from transforms.derive import partitioned as p\n"
        f"s, e = day_bounds(dt.date.fromisoformat({day.isoformat()!r}))\n"
    )

    def child(code: str) -> object:
        done = subprocess.run(
            [sys.executable, "-c", pre + code], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.splitlines()[-1])

    parts_list = child(
        f"c.snapshot_tables(None, {str(snap)!r}); print(json.dumps(p.partitions_for(None, s, e)))"
    )
    regions = [p["region"] for p in parts_list]  # type: ignore[union-attr]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(pool.map(lambda r: stage(env, "partition", day, r), regions))
    mapped_s = time.perf_counter() - started
    writer = stage(env, "write_partitions", day)
    total_s = time.perf_counter() - started
    result = child(f"print(json.dumps(c.compare_tables(None, {str(snap)!r})))")
    assert isinstance(result, dict)
    return {
        "regions": len(regions), "workers": workers, "mapped_s": round(mapped_s, 1),
        "partition_task_s": [p.get("seconds") for p in parts], "statuses": sorted({p["status"] for p in parts}),
        "partition_peak_mb": max((p.get("peak_rss_mb") or 0) for p in parts) if parts else 0,
        "writer_s": writer.get("seconds"), "writer_status": writer["status"], "total_s": round(total_s, 1),
        "identical": {t: r["identical"] for t, r in result.items()},
        "max_rel_diff": max(r["max_rel_diff"] for r in result.values()),
        "float_not_bitwise": sum(r["float_not_bitwise"] for r in result.values()),
        "errors": [p.get("error") for p in [*parts, writer] if p.get("error")][:3],
    }  # fmt: skip


def fmt_stage(r: dict) -> str:
    status = r["status"] if r["status"] != "ok" else ""
    extra = (
        ", ".join(r.get("missing", []))
        if r["status"] == "missing"
        else (r.get("error") or "")[:160]
    )
    return (f"  {r['stage']:<18} {r['seconds']:>8.1f} s   task wall {r.get('wall_s', 0):>7.1f} s"
            f"   peak RSS {r.get('peak_rss_mb', 0):>7.0f} MB  {status} {extra}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--scales", type=float, nargs="+", default=[1.0], help="multiples of the province (1 2 4)"
    )
    ap.add_argument("--scale", type=float, dest="scales", nargs="+", help="alias of --scales")
    ap.add_argument(
        "--fraction", type=float, default=1.0, help="fraction of the province for quick runs (0.02)"
    )
    ap.add_argument(
        "--pandas-fraction",
        type=float,
        default=0.1,
        help="share of the 1x province given to pandas",
    )
    ap.add_argument("--regions", type=int, default=16)
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 3, 10))
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where homes go (default: a temp dir, removed)"
    )
    ap.add_argument(
        "--partitioned", action="store_true", help="also run the region-partitioned derivations"
    )
    ap.add_argument("--workers", type=int, default=2, help="concurrent partition processes")
    ap.add_argument("--validate-budget-s", type=float, default=120.0,
                    help="stop the Great Expectations batch validation after this long; extrapolate")  # fmt: skip
    ap.add_argument("--keep", action="store_true", help="keep the generated homes")
    a = ap.parse_args()
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="envmon-province-"))
    results: dict[float, dict] = {}
    try:
        for scale in a.scales:
            shape = ProvinceShape.of(scale, a.fraction, a.regions)
            home = workdir / f"scale_{scale:g}"
            print(f"\n== scale {scale:g}x (fraction {a.fraction:g}): {shape}", flush=True)
            prep = prepare(home, shape, a.day)
            print(f"  generated {prep['readings']:,} readings in {prep['batches']:,} landing batches "
                  f"in {prep['generate_s']} s; warehouse + registry {prep['setup_s']} s", flush=True)  # fmt: skip
            env = home_env(home)
            stages = []
            for name in NIGHTLY:
                budget = a.validate_budget_s if name == "validate" else STAGE_TIMEOUT_S
                r = stage(env, name, a.day, timeout_s=budget)
                if r["status"] == "budget":
                    r.update(extrapolate_validation(env, r["seconds"]))
                stages.append(r)
                print(fmt_stage(r), flush=True)
            scan = stage(env, "scan", a.day)
            print(fmt_stage(scan), flush=True)
            res = {"shape": shape, "prep": prep, "stages": stages, "scan": scan}
            if a.partitioned:
                res["partitioned"] = run_partitioned(env, a.day, a.workers)
                print(f"  partitioned: {json.dumps(res['partitioned'])}", flush=True)
            results[scale] = res
            if not a.keep:
                shutil.rmtree(home / "landing", ignore_errors=True)
                (home / "warehouse.duckdb").unlink(missing_ok=True)
        pandas = None
        if 1.0 in results:
            pshape = ProvinceShape.of(1.0, a.fraction * a.pandas_fraction, a.regions)
            phome = workdir / "pandas"
            print(
                f"\n== pandas baseline on {a.pandas_fraction:g} of the 1x province: {pshape}",
                flush=True,
            )
            pprep = prepare(phome, pshape, a.day)
            pandas = stage(home_env(phome), "pandas", a.day)
            pandas["readings"] = pprep["readings"]
            print(fmt_stage(pandas), flush=True)
        report(results, pandas, a)
    finally:
        if not a.keep and a.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


# envmon's stages and the baseline's stages that do the same work (bench/province_pandas.py)
PANDAS_STAGES = {
    "load": ("load",), "validate": (), "qc": ("qc",), "aggregate_hours": ("hourly",),
    "aggregate_day": ("daily",), "availability": ("availability",), "alerts": ("rules",),
    "publish": ("report",),
}  # fmt: skip


def report_pandas(pandas: dict, stages: list[dict], readings: int, nightly: float, fraction: float) -> None:
    """The baseline's stages extrapolated linearly by readings (imports excluded), beside
    envmon's, and the whole-run ratio."""
    per = pandas.get("summary", {}).get("stage_seconds") or {}
    scale = readings / pandas["readings"]
    total = sum(per.values()) * scale if per else pandas["seconds"] * scale
    print(f"  pandas baseline: {pandas['seconds']:.1f} s for {pandas['readings']:,} readings ({fraction:g} of the "
          f"province; {sum(per.values()):.1f} s in its stages), extrapolated linearly to {total:.0f} s at 1x; "
          f"peak {pandas['peak_rss_mb']:.0f} MB at the fraction (~{pandas['peak_rss_mb'] / fraction / 1024:.1f} GB "
          "extrapolated)")  # fmt: skip
    mine = {r["stage"]: r["seconds"] for r in stages if r["status"] == "ok"}
    for stage, theirs in PANDAS_STAGES.items():
        if stage not in mine:
            continue
        t = sum(per.get(x, 0.0) for x in theirs) * scale
        ratio = f"{t / mine[stage]:5.2f}x" if theirs and mine[stage] > 0 else "  -  "
        name = "+".join(theirs) or "(no Great Expectations run in the baseline)"
        print(f"    {stage:<16} envmon {mine[stage]:7.1f} s   pandas {t:7.1f} s  ({name})  pandas/envmon {ratio}")
    print(f"  envmon vs pandas: {total / max(nightly, 1e-9):.2f}x faster  (target >= {TARGETS['vs_pandas']}x)")


def report(results: dict[float, dict], pandas: dict | None, a: argparse.Namespace) -> None:
    print("\n== figures (2 cores shared; each stage a separate process, as Airflow runs tasks)")
    base = None
    for scale, res in results.items():
        ok = [r for r in res["stages"] if r["status"] == "ok"]
        nightly = sum(r["seconds"] for r in ok)
        wall = sum(r.get("wall_s", r["seconds"]) for r in ok)
        agg = sum(r["seconds"] for r in ok if r["stage"] in AGGREGATION)
        peak = max((r.get("peak_rss_mb") or 0) for r in res["stages"])
        readings = res["prep"]["readings"]
        missing = [r["stage"] for r in res["stages"] if r["status"] == "missing"]
        failed = [r["stage"] for r in res["stages"] if r["status"] == "failed"]
        print(f"scale {scale:g}x: {readings:,} readings")
        print(f"  nightly run (stages that ran): {nightly:.1f} s in the stages, {wall:.1f} s with task start-up"
              f"  (target <= {TARGETS['nightly_s']} s at 1x)")  # fmt: skip
        gx = sum(r["seconds"] for r in ok if r["stage"] == "validate")
        print(f"  of which Great Expectations batch validation: {gx:.1f} s"
              f"{' (extrapolated)' if any(r.get('extrapolated') for r in ok) else ''}; without it {nightly - gx:.1f} s")  # fmt: skip
        if missing or failed:
            print(f"  NOT COUNTED: missing {missing or '-'}; failed {failed or '-'}")
        print(f"  throughput: {readings / max(nightly, 1e-9):,.0f} readings/s")
        print(
            f"  peak memory (largest task): {peak / 1024:.2f} GB  (target <= {TARGETS['peak_gb']} GB)"
        )
        scan_s = res["scan"]["seconds"]
        if agg:
            print(f"  aggregation stages {agg:.1f} s vs bare DuckDB scan {scan_s:.1f} s: {agg / scan_s:.1f}x the floor"
                  f"  (target <= {TARGETS['vs_scan']}x)")  # fmt: skip
        if pandas and pandas["status"] == "ok" and scale == 1.0:
            report_pandas(pandas, res["stages"], readings, nightly, a.pandas_fraction)
        if "partitioned" in res:
            p = res["partitioned"]
            print(f"  partitioned derivations: {p['regions']} regions by {p['workers']} workers {p['mapped_s']} s"
                  f" + writer {p['writer_s']} s = {p['total_s']} s; identical to the unpartitioned run: "
                  f"{all(p['identical'].values())} {p['identical']} (floats equal within {p['max_rel_diff']:.1e} "
                  f"relative; {p['float_not_bitwise']} rows differ in the last bits: summation order)")  # fmt: skip
        if base is None:
            base = (scale, nightly, readings)
        else:
            print(
                f"  growth vs {base[0]:g}x: data x{readings / base[2]:.2f}, time x{nightly / max(base[1], 1e-9):.2f}"
            )


if __name__ == "__main__":
    sys.exit(main())
