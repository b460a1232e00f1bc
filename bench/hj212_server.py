"""Benchmark: HJ 212 end to end, simulated loggers -> TCP -> server -> durable landing batches.

Prints figures only; asserts nothing about timing.

    .venv/bin/python bench/hj212_server.py [--loggers 100] [--hours 3]

The loggers run in a child process, the server in this one, so the two cores are used as in
production (server) plus a load source. The child builds every logger's packets with the
simulator (minute + hourly data, each asking for a 9014) *before* timing starts, then sends
them over one connection per logger with at most `--window` unanswered packets each, as fast
as the server answers (it answers only once a packet's batch is fsynced): building packets and
their CRCs in Python is not what is measured. Time runs from the loggers' start to the last
answer received; readings/s counts what the server made durable. Baseline in the same run: the same simulated traffic into a TCP sink that
only splits records and answers each one at once (no parsing, no landing): the transport's ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.landing import LandingZone  # noqa: E402
from core.registry.config import load_registry  # noqa: E402
from ingest.hj212 import builders  # noqa: E402
from ingest.hj212.protocol import parse_packet, split_frames  # noqa: E402
from ingest.hj212.server import Hj212Server, ServerConfig  # noqa: E402
from sim.hj212_simulator import (  # noqa: E402
    LoggerSimOptions,
    LoggerSimulator,
    write_synthetic_registry,
)

WINDOW = 256  # unanswered packets in flight per logger, as the simulator's default load test


def _build_packets(config: str, hours: int) -> list[tuple[list[bytes], int]]:
    """Every logger's packets (minute + hourly, in time order) and its readings count."""
    registry = load_registry(Path(config))
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    opts = LoggerSimOptions(seed=1, gap_rate=0.0, outage_rate=0.0, linger_s=0.0)
    sim = LoggerSimulator(registry, end - timedelta(hours=hours), end, opts)
    plans = []
    for lg in sim.loggers:
        packets, readings = [], 0
        for _, kind, i in lg._schedule():
            built = lg.minute_packet(i) if kind == "min" else lg.hour_packet(i)
            if built is not None:
                packets.append(built[0])
                readings += built[1]
        plans.append((packets, readings))
    return plans


async def _send_logger(port: int, packets: list[bytes], window: int) -> int:
    """Send one logger's packets, at most `window` unanswered; returns the answers received."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    acks, sent = 0, 0
    rest = b""
    while acks < len(packets):
        if sent < len(packets) and sent - acks < window:
            upto = min(len(packets), acks + window)
            writer.write(b"".join(packets[sent:upto]))
            sent = upto
        data = await reader.read(65536)
        if not data:
            break
        records, rest = split_frames(rest + data)
        acks += sum(1 for r in records if r)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return acks


def _sim_child(config: str, loggers: int, hours: int, port: int, ready, go, out) -> None:  # type: ignore[no-untyped-def]
    plans = _build_packets(config, hours)
    ready.set()
    go.wait()

    async def run() -> list[int]:
        return await asyncio.gather(*(_send_logger(port, p, WINDOW) for p, _ in plans))

    t0 = time.monotonic()
    acks = asyncio.run(run())
    seconds = time.monotonic() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    packets = sum(len(p) for p, _ in plans)
    readings = sum(r for _, r in plans)
    out.put((packets, readings, sum(acks), seconds, peak_mb))


def _run_with_child(config: Path, loggers: int, hours: int, port: int):  # type: ignore[no-untyped-def]
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_sim_child, args=(str(config), loggers, hours, port, ready, go, out))
    child.start()
    return child, ready, go, out


async def _sink(port_box: list, handlers: set) -> asyncio.Server:
    """Baseline: split records, answer each at once with a 9014; nothing else."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        handlers.add(task)
        rest = b""
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                records, rest = split_frames(rest + data)
                for r in records:
                    if r:
                        writer.write(builders.data_answer(parse_packet(r, max_future=None)))
        writer.close()
        handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port_box.append(server.sockets[0].getsockname()[1])
    return server


def _measure(config: Path, loggers: int, hours: int, *, baseline: bool, home: Path) -> dict:
    registry = load_registry(config)
    result: dict = {}

    async def main() -> None:
        if baseline:
            box: list = []
            handlers: set = set()
            server = await _sink(box, handlers)
            port = box[0]
        else:
            landing = LandingZone(home / "landing")
            srv = Hj212Server(
                ServerConfig(host="127.0.0.1", port=0, backfill=False), registry, landing, home
            )
            _, port = await srv.start()
        child, ready, go, out = _run_with_child(config, loggers, hours, port)
        while not ready.is_set():
            await asyncio.sleep(0.05)
        go.set()
        while out.empty():
            await asyncio.sleep(0.05)
        packets, sent_readings, acks, seconds, child_mb = out.get()
        child.join()
        if baseline:
            server.close()
            if handlers:  # the loggers have hung up: let the sink's handlers see it
                await asyncio.wait(list(handlers), timeout=5)
            result.update(readings=sent_readings)
        else:
            await srv.stop()
            result.update(
                readings=srv.stats.readings,
                batches=srv.stats.batches,
                bulk=srv.stats.packets_bulk,
                landed=srv.stats.packets_landed,
            )
        result.update(packets=packets, acks=acks, seconds=seconds, sim_peak_mb=child_mb)

    asyncio.run(main())
    result["server_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--loggers", type=int, default=100)
    ap.add_argument("--hours", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_synthetic_registry(REPO / "config", Path(tmp) / "config", args.loggers)
        base = _measure(config, args.loggers, args.hours, baseline=True, home=Path(tmp) / "sink")
        real = _measure(config, args.loggers, args.hours, baseline=False, home=Path(tmp) / "server")
    print(
        f"HJ 212 end to end: {args.loggers} simulated loggers x {args.hours} h of minute + hourly data, over TCP"
    )
    print(f"  baseline TCP sink (split + answer only): {base['packets']:,} packets in {base['seconds']:.2f} s = "
          f"{base['readings'] / base['seconds']:,.0f} readings/s")  # fmt: skip
    print(f"  server -> durable landing batches:       {real['packets']:,} packets, {real['readings']:,} readings "
          f"in {real['seconds']:.2f} s = {real['readings'] / real['seconds']:,.0f} readings/s "
          f"({real['packets'] / real['seconds']:,.0f} packets/s, {real['batches']} batches, "
          f"{real['acks']:,} answers after durability)")  # fmt: skip
    print(f"  of {real['landed']:,} landed packets, {real['bulk']:,} parsed in bulk "
          "(the rest one by one: each connection's first packet, anything unusual)")  # fmt: skip
    print(
        f"  server vs baseline: {real['readings'] / real['seconds'] / (base['readings'] / base['seconds']):.2f}x"
    )
    print(
        f"  peak RSS: server process {real['server_peak_mb']:.0f} MB, simulator process {real['sim_peak_mb']:.0f} MB"
    )
    print("  target: >= 20,000 readings/s")


if __name__ == "__main__":
    main()
