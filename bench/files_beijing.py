"""Benchmark: ingest the whole Beijing data set (12 files) and load it into a fresh warehouse.

Prints rows/s and readings/s of the ingest, the wall time of ingest and load separately, and
the peak memory (RSS high-water mark) after each. Asserts nothing about timings.

    .venv/bin/python bench/files_beijing.py [--data DIR] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path
from time import perf_counter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "beijing_prsa"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--keep", action="store_true", help="keep the temporary ENVMON_HOME")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="envmon-bench-files-"))
    os.environ["ENVMON_HOME"] = str(home)
    from core.settings import get_settings, reset_settings_cache
    from ingest.files.ingest import ingest_paths
    from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job

    reset_settings_cache()
    settings = get_settings()
    init_warehouse(settings)
    load_registry_job(settings)
    files = sorted(args.data.glob("PRSA_Data_*.csv*"))
    try:
        started = perf_counter()
        report = ingest_paths(files, settings)
        ingest_s = perf_counter() - started
        ingest_rss = peak_rss_mb()
        started = perf_counter()
        load = load_landing_job(settings)
        load_s = perf_counter() - started
        print(f"files: {len(files)} ({report.count('ingested')} ingested, {report.count('rejected')} rejected)")
        print(f"ingest: {report.rows:,} rows -> {report.readings:,} readings in {ingest_s:.2f} s "
              f"({report.rows / ingest_s:,.0f} rows/s, {report.readings / ingest_s:,.0f} readings/s); "
              f"peak RSS so far {ingest_rss:,.0f} MB")
        print(f"load:   {load.rows_inserted:,} readings inserted in {load_s:.2f} s "
              f"({load.rows_inserted / max(load_s, 1e-9):,.0f} readings/s)")
        print(f"total:  {ingest_s + load_s:.2f} s; peak RSS {peak_rss_mb():,.0f} MB")
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
