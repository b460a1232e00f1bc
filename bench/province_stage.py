"""One stage of the province benchmark in its own process (as an Airflow task runs in its own).

    python bench/province_stage.py STAGE DAY [ARG]

Prints one line `PROVINCE-STAGE {json}`: status (ok | missing | failed), seconds spent in the
stage's function (imports excluded), peak RSS of the process (MB) and the stage's summary.
A stage whose function does not exist yet is reported as missing, never faked.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PREFIX = "PROVINCE-STAGE "

# stage -> the functions it needs (module, attribute): absent ones make the stage "missing"
NEEDS = {
    "load": [("warehouse.jobs", "load_landing_job")],
    "validate": [("transforms.qc.gx_suite", "validate_batches")],
    "qc": [("transforms.qc.run", "run_qc_on")],
    "aggregate_hours": [("transforms.derive.hourly", "derive_hourly")],
    "aggregate_day": [("transforms.derive.daily", "derive_daily")],
    "availability": [("transforms.qc.availability", "compute_availability")],
    "alerts": [("alerts.jobs", "evaluate_rules"), ("alerts.jobs", "escalate_overdue"),
               ("alerts.jobs", "send_notifications")],
    "publish": [("publish.jobs", "publish_daily")],
    "partition": [("transforms.derive.partitioned", "compute_partition")],
    "write_partitions": [("transforms.derive.partitioned", "write_partitions")],
}  # fmt: skip


def _missing(stage: str) -> list[str]:
    out = []
    for module, attr in NEEDS.get(stage, []):
        try:
            if not hasattr(importlib.import_module(module), attr):
                out.append(f"{module}.{attr}")
        except ImportError as exc:
            out.append(f"{module}.{attr} ({exc})")
    return out


def _run(stage: str, day: date, arg: str | None) -> object:
    from bench.province_data import day_bounds
    from core.settings import get_settings
    from envmon import pipeline

    settings = get_settings()
    start, end = day_bounds(day)
    if stage == "load":  # load_and_validate's two calls, timed apart (validation is per batch)
        from warehouse.jobs import load_landing_job

        report = load_landing_job(settings)
        return {"batches_loaded": len(report.loaded), "rows_inserted": report.rows_inserted}
    if stage == "validate":
        from transforms.qc.gx_suite import validate_batches

        return {"batches_validated": len(validate_batches(settings))}
    if stage == "qc":
        return pipeline.qc_interval(start, end, settings)
    if stage == "aggregate_hours":
        return pipeline.derive_hours(start, end, settings)
    if stage == "aggregate_day":
        return pipeline.derive_days(start, end, settings)
    if stage == "availability":
        return pipeline.availability(start, end, settings)
    if stage == "alerts":
        return pipeline.evaluate_alerts(start, end, settings)
    if stage == "publish":
        return pipeline.publish_day(start, end, settings)
    if stage == "partition":
        from transforms.derive.partitioned import compute_partition

        return compute_partition(settings, str(arg), start, end)
    if stage == "write_partitions":
        from transforms.derive.partitioned import write_partitions

        return write_partitions(settings, start, end)
    if stage == "scan":
        return _bare_scan(settings.landing_root)
    if stage == "pandas":
        from bench.province_pandas import run_pandas

        return run_pandas(settings.landing_root, settings.config_dir, Path(settings.home) / "pandas_out",
                          day.isoformat(), settings.timezone)  # fmt: skip
    raise SystemExit(f"unknown stage {stage!r}")


def _bare_scan(landing_root: str) -> dict[str, int]:
    """The floor: one DuckDB pass of hourly then daily means over the landing Parquet."""
    import duckdb

    con = duckdb.connect()
    glob = f"{landing_root.removeprefix('file://')}/readings/**/*.parquet"
    con.execute(
        f"""CREATE TEMP TABLE h AS
            SELECT site_id, parameter, date_trunc('hour', period_start) AS hour, avg(value) AS v, count(*) AS n
            FROM read_parquet('{glob}') GROUP BY ALL"""
    )
    hours = con.execute("SELECT count(*) FROM h").fetchall()[0][0]
    days = con.execute(
        """SELECT count(*) FROM (SELECT site_id, parameter, avg(v), count(*) FROM h
           GROUP BY site_id, parameter, CAST(timezone('Asia/Shanghai', hour) AS DATE))"""
    ).fetchall()[0][0]
    return {"hourly_rows": hours, "daily_rows": days}


def main(argv: list[str]) -> int:
    stage, day = argv[0], date.fromisoformat(argv[1])
    arg = argv[2] if len(argv) > 2 else None
    out: dict[str, object] = {"stage": stage, "arg": arg, "pid": os.getpid()}
    missing = _missing(stage)
    started = time.perf_counter()
    if missing:
        out.update(status="missing", missing=missing)
    else:
        try:
            summary = _run(stage, day, arg)
            out.update(status="ok", summary=summary)
        except Exception as exc:  # report and let the driver carry on with the others
            out.update(
                status="failed",
                error=f"{type(exc).__name__}: {exc}",
                trace=traceback.format_exc()[-3000:],
            )
    out["seconds"] = round(time.perf_counter() - started, 3)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(PREFIX + json.dumps(out, default=str), flush=True)
    return 0 if out["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
