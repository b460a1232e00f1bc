"""Abuse of the HJ 212 server (issue 18 items 4, 7): a dead-letter flood and online password
guessing against a real `envmon hj212 serve` on loopback, then one valid packet.

Prints figures only; asserts nothing about timing. Bounded in time and count, loopback only.

    .venv/bin/python bench/abuse_hj212.py [--flood 2000] [--guesses 3000] [--max-seconds 20]

The server runs in its own process (its own ENVMON_HOME in a temporary folder, the bureau's
registry in config/, default settings: 5 failed logins lock an MN, 10 a host, for 300 s; 200
connections per host; 200 refused records a minute throttle a host). The attackers and the
real logger use four loopback source addresses, so the per-host limits can be seen apart:

- the flood: `--flood` connections: half from 127.0.0.3 each sending one garbage record and
  hanging up, half from 127.0.0.5 each sending one refused login (an unknown MN) that the
  server hangs up. Before the fix every refused connection forced its own durable Parquet
  file (~1,000 files in 5.7 s).
- 127.0.0.4, the guesser: `--guesses` passwords of the first outlet's logger, 3 per connection.
  Before the fix: 3,000 guesses in 5.7 s, all checked, no limit.
- 127.0.0.2, the real logger: logs in once before the attack (its usual host), sends one valid
  minute packet after it — while its MN is still locked for everyone else — and must land.

Printed: the server's peak RSS (VmHWM), landing files created, dead letters, what was refused
(the server's own summary at SIGTERM), and whether the valid reading landed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow as pa  # noqa: E402

from core.landing import DEAD_LETTERS, READINGS, LandingZone  # noqa: E402
from core.registry.config import load_registry  # noqa: E402
from ingest.hj212.protocol import DEFAULT_TZ, StreamFramer, format_time, frame, try_parse  # noqa: E402

REAL, FLOOD, GUESSER, FLOOD_LOGINS = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"


def minute_packet(mn: str, pw: str, qn: str, minutes_ago: int) -> bytes:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(DEFAULT_TZ)
    at = at.replace(second=0, microsecond=0)
    cp = f"DataTime={format_time(at)};a21026-Avg=20.5,a21026-Flag=N;a19001-Avg=8.1,a19001-Flag=N"
    return frame(f"QN={qn};ST=31;CN=2051;PW={pw};MN={mn};Flag=5;CP=&&{cp}&&".encode())


async def connect(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def until_closed(reader: asyncio.StreamReader, timeout: float = 5.0) -> list[bytes]:
    """Read what the server answers until it hangs up (or `timeout`)."""
    framer, got = StreamFramer(), []
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                break
            got.extend(framer.feed(data))
    return got


async def answer_of(reader: asyncio.StreamReader, timeout: float = 10.0) -> bytes | None:
    framer = StreamFramer()
    with contextlib.suppress(TimeoutError, ConnectionError, OSError):
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                return None
            for record in framer.feed(data):
                return record
    return None


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


async def attack(port: int, mn: str, pw: str, n_flood: int, n_guesses: int, max_s: float) -> dict:
    out: dict = {}
    # the real logger logs in from its usual host before the attack
    reader, writer = await connect(port, REAL)
    writer.write(minute_packet(mn, pw, "20200101000000001", 6))
    await writer.drain()
    first = await answer_of(reader)
    out["real logger before"] = _describe(first)
    await close(writer)

    # 1. the dead-letter flood, 50 connections at a time
    t0 = time.monotonic()
    made = refused_on_accept = 0

    async def one(i: int) -> None:
        nonlocal made, refused_on_accept
        try:
            r, w = await connect(port, FLOOD_LOGINS if i % 2 else FLOOD)
        except OSError:
            refused_on_accept += 1
            return
        made += 1
        try:
            if i % 2:
                w.write(minute_packet("FLOOD000000000000001", "000000", f"20200102{i:09d}", 5))
            else:
                w.write(b"##0010garbage\r\n")
            await w.drain()
            if i % 2:
                await until_closed(r, 2.0)
        except (ConnectionError, OSError):
            pass
        await close(w)

    sent_flood = 0
    for c in range(0, n_flood, 50):
        if time.monotonic() - t0 > max_s:
            break
        batch = range(c, min(c + 50, n_flood))
        await asyncio.gather(*(one(i) for i in batch))
        sent_flood += len(batch)
    out["flood"] = (
        f"{sent_flood} connections (garbage from {FLOOD}, refused logins from {FLOOD_LOGINS}) "
        f"in {time.monotonic() - t0:.1f} s"
    )

    # 2. password guessing, 3 guesses a connection
    t0 = time.monotonic()
    guesses = [f"{i:06d}" for i in range(n_guesses) if f"{i:06d}" != pw]
    written = answered = 0
    for c in range(0, len(guesses), 3):
        if time.monotonic() - t0 > max_s:
            break
        try:
            r, w = await connect(port, GUESSER)
            blob = b"".join(
                minute_packet(mn, g, f"20200103{c + k:09d}", 5)
                for k, g in enumerate(guesses[c : c + 3])
            )
            w.write(blob)
            await w.drain()
            written += 3
            answered += len(await until_closed(r, 2.0))
            await close(w)
        except (ConnectionError, OSError):
            pass
    out["guessing"] = (
        f"{min(c + 3, len(guesses))} guesses tried from {GUESSER} in {time.monotonic() - t0:.1f} s; "
        f"{written} sent, {answered} answers received"
    )

    # 3. the real logger, right password, from its usual host (its MN is locked for others)
    reader, writer = await connect(port, REAL)
    writer.write(minute_packet(mn, pw, "20200101000000002", 4))
    await writer.drain()
    out["real logger after"] = _describe(await answer_of(reader))
    await close(writer)
    return out


def _describe(record: bytes | None) -> str:
    if record is None:
        return "no answer"
    res = try_parse(record, max_future=None)
    if not res.ok or res.packet is None:
        return f"unparsable answer {record!r}"
    p = res.packet
    return f"CN {p.cn} QN {p.qn}" + (f" QnRtn {p.get('QnRtn')}" if p.get("QnRtn") else "")


def peak_rss_kb(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flood", type=int, default=2000, help="flood connections")
    ap.add_argument("--guesses", type=int, default=3000, help="passwords tried")
    ap.add_argument("--max-seconds", type=float, default=20.0, help="bound of each attack")
    args = ap.parse_args()
    registry = load_registry(REPO / "config")
    _, outlet = next(iter(registry.outlets.values()))
    mn, pw = outlet.logger.mn, outlet.logger.password

    with tempfile.TemporaryDirectory(prefix="envmon-abuse-hj212-") as home:
        env = {
            **os.environ,
            "ENVMON_HOME": home,
            "ENVMON_HJ212_HOST": "127.0.0.1",
            "ENVMON_HJ212_PORT": "0",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "envmon", "hj212", "serve", "--no-backfill"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            m = re.search(r"listening on ([\d.]+):(\d+)", line)
            if m is None:
                raise SystemExit(
                    f"server did not start: {line!r} {server.stderr.read() if server.stderr else ''}"
                )
            port = int(m[2])
            print(f"server pid {server.pid} listening on {m[1]}:{port} (ENVMON_HOME {home})")
            rss0 = peak_rss_kb(server.pid)
            t0 = time.monotonic()
            report = asyncio.run(attack(port, mn, pw, args.flood, args.guesses, args.max_seconds))
            elapsed = time.monotonic() - t0
            time.sleep(1.0)  # the last batch's age
            rss = peak_rss_kb(server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                out, err = server.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                out, err = server.communicate()
        landing = LandingZone(str(Path(home) / "landing"))
        dead_files = landing.list_batches(DEAD_LETTERS)
        reading_files = landing.list_batches(READINGS)
        dead = pa.concat_tables([landing.read(p) for p in dead_files]) if dead_files else None
        rows = (
            pa.concat_tables([landing.read(p) for p in reading_files]).to_pylist()
            if reading_files
            else []
        )
        origins = {r["origin"] for r in rows}
        lockouts = [x for x in err.splitlines() if "login lockout" in x]
        throttles = [x for x in err.splitlines() if "throttled for" in x and "refused records" in x]

        print(f"attacks took {elapsed:.1f} s")
        for k, v in report.items():
            print(f"  {k}: {v}")
        if rss and rss0:
            print(f"server peak RSS: {rss / 1024:.1f} MiB (after start-up: {rss0 / 1024:.1f} MiB)")
        print(
            f"landing files created: {len(dead_files)} dead-letter batches, {len(reading_files)} readings batches"
        )
        n_dead = dead.num_rows if dead is not None else 0
        print(f"dead letters: {n_dead} rows")
        if dead is not None:
            kinds: dict[str, int] = {}
            for reason in dead.column("reason").to_pylist():
                kinds[reason.split(":")[0][:60]] = kinds.get(reason.split(":")[0][:60], 0) + 1
            for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
                print(f"  {n:6d}  {k}")
            clear = sum(
                f"PW={g:06d};".encode() in raw
                for raw in dead.column("raw").to_pylist()
                for g in range(20)
            )
            print(f"  dead letters holding a guessed password in clear: {clear}")
        print(f"lockouts logged: {len(lockouts)}")
        for x in lockouts:
            print(f"  {x.split(': ', 1)[-1][:160]}")
        print(f"hosts throttled (logged): {len(throttles)}")
        print(f"server summary: {out.strip().splitlines()[-1] if out.strip() else '(none)'}")
        landed = f"hj212:{mn}:20200101000000002" in origins
        print(f"valid reading after the attacks landed: {'yes' if landed else 'NO'}")


if __name__ == "__main__":
    main()
