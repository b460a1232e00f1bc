"""Benchmark of HJ 212 parsing: bulk (vectorised) path vs the per-packet loop, on one core.

    python bench/hj212_parse.py [N]

Prints figures only; timings are never asserted.
"""

from __future__ import annotations

import os

# one core: keep polars and arrow single-threaded (set before they are imported)
os.environ.setdefault("POLARS_MAX_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import glob
import gzip
import random
import resource
import sys
import time
from pathlib import Path

import pyarrow as pa

from ingest.hj212.bulk import parse_records, split_records
from ingest.hj212.protocol import frame, try_parse

pa.set_cpu_count(1)
CAPTURE = Path("/work/shared/data/hj212_capture_2016-08-24")
CODES = ("a21026", "a21002", "a34013", "a19001", "a01011", "a01012", "a01013", "a00000")


def hourly_packets(n: int, seed: int = 1) -> list[bytes]:
    """n hourly (CN=2061) flue-gas packets of 8 pollutants, valid length and CRC."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        day, hour = 1 + (i // 24) % 28, i % 24
        items = ";".join(
            f"{c}-Cou={rng.uniform(0, 1e4):.2f},{c}-Min={rng.uniform(0, 50):.2f},"
            f"{c}-Avg={rng.uniform(0, 100):.2f},{c}-Max={rng.uniform(50, 200):.3f},{c}-Flag=N"
            for c in CODES
        )
        seg = (
            f"QN=202401{day:02d}{hour:02d}0000{i % 1000:03d};ST=31;CN=2061;PW=123456;"
            f"MN=LD13013100{i % 500:04d};Flag=5;CP=&&DataTime=202401{day:02d}{hour:02d}0000;{items}&&"
        )
        out.append(frame(seg.encode())[:-2])
    return out


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} packets/s ({n:,} in {seconds:.2f} s)"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    packets = hourly_packets(n)
    size = sum(map(len, packets)) / n
    print(f"generated {n:,} hourly packets of {len(CODES)} pollutants, {size:.0f} bytes each")

    t = time.perf_counter()
    result = parse_records(packets, max_future=None)
    bulk_s = time.perf_counter() - t
    assert result.n_ok == n, result.rejected[:3]
    print(f"bulk path:        {rate(n, bulk_s)}; {result.values.height:,} value rows")

    sample = packets[: min(n, 50_000)]
    t = time.perf_counter()
    ok = sum(try_parse(p, max_future=None).ok for p in sample)
    loop_s = time.perf_counter() - t
    assert ok == len(sample)
    print(f"per-packet loop:  {rate(len(sample), loop_s)}")
    print(f"ratio bulk/loop:  {(n / bulk_s) / (len(sample) / loop_s):.1f}x")

    files = sorted(glob.glob(str(CAPTURE / "*.h212.gz")))
    if files:
        records = [r for f in files for r in split_records(gzip.decompress(Path(f).read_bytes()))]
        t = time.perf_counter()
        cap = parse_records(records, max_future=None)
        cap_s = time.perf_counter() - t
        print(
            f"real capture:     {rate(len(records), cap_s)}; "
            f"{cap.n_ok:,} ok, {len(cap.rejected)} rejected (decompression not timed)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (maxrss, whole run): {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
