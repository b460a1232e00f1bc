"""Abuse of the file inbox and the loader (issue 18 items 1, 3): a gzip bomb against
`envmon ingest inbox`, a poison dead-letter batch against `envmon load`, then valid readings.

Prints figures only; asserts nothing about timing. Bounded in time and count, local only.

    .venv/bin/python bench/abuse_files.py [--bomb-mb 1] [--poison-rows 12500] [--payload-kb 188]
                                          [--memory-limit 256MB] [--keep]

Everything runs in its own ENVMON_HOME in a temporary folder, each command in its own process
(peak RSS from the kernel's rusage of that child):

1. the gzip bomb: `--bomb-mb` of gzip expanding ~1000 times (1 MB -> ~1 GB of "0", after a CSV
   header) dropped into the inbox with a valid station export beside it, written as `.part`
   and renamed in (the inbox protocol), and a 2 GB sparse CSV (`--sparse-gb`) beside them. For
   comparison, the old way — `gzip.decompress` of the whole file, as the reader did before — is
   run in a child too. Before the fix: 2.09 GB for the bomb; 4.3 GB, 26 s and a 2 GB copy into
   quarantine for the sparse CSV.
2. the poison: one dead-letter batch of `--poison-rows` rows each carrying the same
   `--payload-kb` KB raw MQTT payload (12,500 x 188 KB = 2.3 GB, issue 18 item 1), written into
   the landing zone as the MQTT ingestor used to write it; then a valid reading published
   after it (a readings batch); then `envmon load` with ENVMON_DUCKDB_MEMORY_LIMIT=`--memory-limit`.
   Before the fix: out-of-memory traceback, nothing loaded, every later load failing the same way.
3. a second `envmon load` (must not be blocked), and a check that both valid readings (the
   file's and the published one) are in the warehouse.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD_TIMEOUT_S = 600


def run(args: list[str], env: dict[str, str], label: str) -> tuple[int, float, float, str]:
    """Run a child; returns (exit code, peak RSS MB, seconds, output)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO, text=True
        )
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                print(f"  {label}: killed after {CHILD_TIMEOUT_S} s")
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    return proc.returncode, usage.ru_maxrss / 1024, seconds, text


def make_bomb(path: Path, megabytes: int) -> int:
    """Concatenated gzip members of 1 MiB of '0' each, after a gzipped CSV header."""
    member = gzip.compress(b"0" * (1 << 20), compresslevel=9)
    count = megabytes * (1 << 20) // len(member)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(
        gzip.compress(b"site_id,parameter,period_start,value,unit,flag\n") + member * count
    )
    tmp.rename(path)
    return count << 20


def mqtt_payload(kb: int) -> bytes:
    """A JSON message of the issue's kind: thousands of unknown parameter names."""
    values, i = {}, 0
    text = b""
    while len(text) < kb * 1000:
        for _ in range(500):
            values[f"unknown_param_{i:05d}"] = round(i * 0.37, 2)
            i += 1
        text = json.dumps(
            {"site_id": "dongsi", "ts": "2026-12-01T08:00:00+08:00", "values": values}
        ).encode()
    return text


def write_poison(landing_root: str, rows: int, payload: bytes) -> str:
    """One dead-letter batch with `rows` rows carrying `payload`, written in row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.landing import TMP_PREFIX, new_batch_id
    from core.schema import DEAD_LETTER_SCHEMA

    now = datetime.now(UTC)
    batch_id = new_batch_id("mqtt", now)
    folder = Path(landing_root) / "deadletters" / "source=mqtt" / f"date={now:%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    tmp, final = folder / f"{TMP_PREFIX}{batch_id}.parquet", folder / f"{batch_id}.parquet"
    step = 500
    with pq.ParquetWriter(tmp, DEAD_LETTER_SCHEMA, compression="zstd") as writer:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            writer.write_table(
                pa.table(
                    {
                        "dead_letter_id": [f"poison-{batch_id}-{start + k}" for k in range(n)],
                        "source_kind": ["mqtt"] * n,
                        "origin": ["envmon/v1/air/dongsi"] * n,
                        "reason": [
                            f"unknown parameter 'unknown_param_{start + k:05d}'" for k in range(n)
                        ],
                        "raw": pa.array([payload] * n, pa.binary()),
                        "received_at": pa.array([now] * n, pa.timestamp("us", "UTC")),
                    },
                    schema=DEAD_LETTER_SCHEMA,
                )
            )
    os.replace(tmp, final)
    return str(final.relative_to(landing_root))


def count_files(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for area in (
        "landing/readings",
        "landing/deadletters",
        "landing/files_ledger",
        "quarantine",
        "inbox/done",
        "inbox",
    ):
        folder = root / area
        if area == "inbox":
            out[area + " (waiting)"] = (
                sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0
            )
        else:
            out[area] = sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bomb-mb", type=int, default=1)
    parser.add_argument("--poison-rows", type=int, default=12_500)
    parser.add_argument("--payload-kb", type=int, default=188)
    parser.add_argument("--memory-limit", default="256MB")
    parser.add_argument("--sparse-gb", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary ENVMON_HOME")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="envmon-abuse-files-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVMON_")}
    env |= {"ENVMON_HOME": str(home), "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    os.environ.update({"ENVMON_HOME": str(home)})
    py = sys.executable
    try:
        code, _, _, out = run([py, "-m", "envmon", "init"], env, "init")
        assert code == 0, out
        print(f"ENVMON_HOME {home}")

        # 1. the gzip bomb and a valid export, both renamed into the inbox
        inbox = home / "inbox"
        inbox.mkdir(exist_ok=True)
        bomb = inbox / "station_export.csv.gz"
        inflated = make_bomb(bomb, args.bomb_mb)
        hour = (
            (datetime.now(UTC) - timedelta(hours=2))
            .astimezone()
            .replace(minute=0, second=0, microsecond=0)
        )
        local = hour.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
        valid = inbox / "valid.csv.part"
        valid.write_text(
            "site_id,parameter,period_start,value,unit,flag\n"
            f"dongsi,pm25,{local:%Y-%m-%d %H:%M},35,ug/m3,N\n",
            encoding="utf-8",
        )
        valid.rename(inbox / "valid.csv")
        sparse = inbox / "huge_sparse.csv"
        with open(sparse, "wb") as fh:
            fh.write(b"site_id,parameter,period_start,value,unit,flag\n")
            fh.truncate(args.sparse_gb << 30)
        sparse_inode = sparse.stat().st_ino
        print(
            f"\n1. gzip bomb: {bomb.stat().st_size / 1e6:.2f} MB on disk, {inflated / 1e9:.2f} GB inside"
        )
        code, rss_old, secs_old, _ = run(
            [py, "-c", f"import gzip; gzip.decompress(open({str(bomb)!r}, 'rb').read())"],
            env,
            "old",
        )
        print(
            f"  before (whole-file gzip.decompress, the old reader): peak RSS {rss_old:,.0f} MB in {secs_old:.1f} s"
        )
        code, rss, secs, out = run(
            [py, "-m", "envmon", "ingest", "inbox", "--settle", "0"], env, "inbox"
        )
        print(f"  envmon ingest inbox: exit {code}, peak RSS {rss:,.0f} MB in {secs:.1f} s")
        for line in out.splitlines():
            if line.strip():
                print(f"    | {line.strip()[:220]}")
        moved = [
            p
            for p in (home / "quarantine").rglob("*huge_sparse.csv")
            if p.stat().st_ino == sparse_inode
        ]
        print(
            f"  the {args.sparse_gb} GB sparse CSV: {'moved (same inode) into quarantine' if moved else 'NOT moved'}; "
            f"left in the inbox: {sparse.exists()}"
        )

        # 2. the poison batch, then a valid reading published after it
        from core.settings import reset_settings_cache

        reset_settings_cache()
        from core.landing import LandingZone, readings_table

        payload = mqtt_payload(args.payload_kb)
        started = time.perf_counter()
        poison = write_poison(str(home / "landing"), args.poison_rows, payload)
        size = (home / "landing" / poison).stat().st_size
        print(
            f"\n2. poison dead-letter batch: {args.poison_rows:,} rows x {len(payload) / 1e3:.0f} KB raw = "
            f"{args.poison_rows * len(payload) / 1e9:.2f} GB of raw ({size / 1e6:.1f} MB on disk), "
            f"written in {time.perf_counter() - started:.1f} s"
        )
        published = hour + timedelta(hours=1)
        LandingZone(str(home / "landing")).write_readings(
            readings_table(
                [
                    {
                        "site_id": "dongsi",
                        "parameter": "pm10",
                        "period_start": published,
                        "interval_s": 3600,
                        "source_kind": "mqtt",
                        "value": 61.0,
                        "unit": "ug/m3",
                        "flag": "N",
                        "received_at": datetime.now(UTC),
                        "origin": "envmon/v1/air/dongsi (published after the poison)",
                    }
                ]
            ),
            "mqtt",
        )
        load_env = env | {"ENVMON_DUCKDB_MEMORY_LIMIT": args.memory_limit}
        code, rss, secs, out = run([py, "-m", "envmon", "load"], load_env, "load")
        print(
            f"  envmon load (ENVMON_DUCKDB_MEMORY_LIMIT={args.memory_limit}): exit {code}, peak RSS {rss:,.0f} MB "
            f"in {secs:.1f} s, traceback: {'YES' if 'Traceback' in out else 'none'}"
        )
        for line in out.splitlines():
            if line.strip():
                print(f"    | {line.strip()[:300]}")

        # 3. a later load is not blocked; the valid readings are in the warehouse
        code, rss, secs, out = run([py, "-m", "envmon", "load"], load_env, "load again")
        print(
            f"\n3. envmon load again: exit {code} in {secs:.1f} s: {out.strip().splitlines()[0][:200] if out.strip() else ''}"
        )
        import duckdb

        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            rows = con.execute(
                "SELECT parameter, source_kind, value, origin FROM readings WHERE site_id = 'dongsi' ORDER BY 1"
            ).fetchall()
            dead = con.execute("SELECT count(*) FROM dead_letters").fetchone()
            quarantined = con.execute("SELECT relpath, reason FROM quarantined_batches").fetchall()
        finally:
            con.close()
        print(f"  readings in the warehouse: {len(rows)}")
        for r in rows:
            print(f"    {r[0]} {r[1]} {r[2]} from {r[3]}")
        file_ok = any(r[0] == "pm25" and r[1] == "file" for r in rows)
        mqtt_ok = any(r[0] == "pm10" and r[1] == "mqtt" for r in rows)
        print(
            f"  valid file reading landed: {file_ok}; reading published after the poison landed: {mqtt_ok}"
        )
        print(
            f"  dead letters loaded: {dead[0] if dead else 0}; quarantined batches: {len(quarantined)}"
        )
        for relpath, reason in quarantined:
            print(f"    {relpath}: {reason[:200]}")
        print("\nfiles under ENVMON_HOME:")
        for area, n in count_files(home).items():
            print(f"  {area}: {n}")
        files = [p.stat() for p in (home / "quarantine").rglob("*") if p.is_file()]
        print(
            f"  quarantine: {sum(st.st_size for st in files) / 1e6:,.1f} MB apparent, "
            f"{sum(st.st_blocks for st in files) * 512 / 1e6:,.1f} MB on disk (moved, not copied)"
        )
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
