"""Abuse of every ingestor at once (issue 18): what a bad device or a curious person can cost.

Runs, each in its own process and its own temporary ENVMON_HOME, on loopback only, bounded in
time and count:

1. MQTT (bench/abuse_mqtt.py): the poison message — 188 KB of 12,500 unknown parameter names —
   against a running ingestor behind the secured broker (anonymous and cross-station publishers
   refused), then one valid reading, then `envmon load`;
2. HJ 212 (bench/abuse_hj212.py): a dead-letter flood of refused connections and online password
   guessing against a running `envmon hj212 serve`, then one valid packet from the real logger;
3. files and the loader (bench/abuse_files.py): a gzip bomb and a 2 GB sparse CSV dropped into the
   inbox, a poison dead-letter batch (12,500 × 188 KB) before a valid reading, `envmon load` at a
   256 MB DuckDB memory limit, then a second load.

Each part prints its own figures (peak memory, files created, what was refused, and that a valid
reading sent afterwards landed); this prints them in turn and a last line per part with its exit
code and wall time. It asserts nothing about time.

    .venv/bin/python bench/abuse.py [--only mqtt|hj212|files] [--timeout-s 900]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = {
    "mqtt": [HERE / "abuse_mqtt.py"],
    "hj212": [HERE / "abuse_hj212.py"],
    "files": [HERE / "abuse_files.py"],
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=sorted(PARTS), action="append", help="run only these parts")
    ap.add_argument("--timeout-s", type=float, default=900.0, help="bound of each part")
    args = ap.parse_args(argv)
    results = []
    for name in args.only or list(PARTS):
        print(f"\n=== {name} " + "=" * (70 - len(name)), flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run(
                [sys.executable, *map(str, PARTS[name])], timeout=args.timeout_s, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
        results.append((name, code, time.monotonic() - started))
    print("\n=== summary")
    for name, code, seconds in results:
        state = "ok" if code == 0 else ("timed out" if code == -1 else f"exit {code}")
        print(f"{name:6} {state:10} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
