"""Replay recorded logger traffic (e.g. the 2016-08-24 capture) through the TCP server.

Records are CRLF-separated, exactly as stored. Each logger (MN) gets its own connection, as it
had on the real link; records without a readable MN (line noise, junk) go over one extra
connection. `capture_registry` writes a registry whose outlets are the capture's loggers, so
the server accepts their packets.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingest.hj212.protocol import try_parse
from sim.hj212_simulator import replace_enterprises

_MN = re.compile(rb"MN=([^;]*);")


def read_records(paths: Iterable[str | Path]) -> list[bytes]:
    """Every non-empty CRLF-separated record of the files (gzip read transparently)."""
    records: list[bytes] = []
    for path in paths:
        data = Path(path).read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        records.extend(r for r in data.split(b"\r\n") if r)
    return records


def group_by_mn(records: Sequence[bytes]) -> dict[bytes | None, list[bytes]]:
    """Records per MN as written in the record (None: no MN to be read)."""
    groups: dict[bytes | None, list[bytes]] = defaultdict(list)
    for r in records:
        m = _MN.search(r)
        groups[m.group(1) if m else None].append(r)
    return groups


def capture_loggers(records: Sequence[bytes]) -> dict[str, tuple[str, str]]:
    """MN -> (password, ST) of the well-formed packets (the commonest of each per MN)."""
    pws: dict[str, Counter] = defaultdict(Counter)
    sts: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        res = try_parse(r, max_future=None)
        if res.ok and res.packet is not None and res.packet.mn:
            p = res.packet
            pws[p.mn][p.pw or ""] += 1
            if p.st in ("31", "32"):
                sts[p.mn][p.st] += 1
    return {
        mn: (c.most_common(1)[0][0], (sts[mn].most_common(1)[0][0] if sts[mn] else "32"))
        for mn, c in pws.items()
    }


def capture_registry(
    records: Sequence[bytes], base_config: Path, dest: Path, habits: bool = False
) -> dict[str, tuple[str, str]]:
    """Copy a config folder and make the capture's loggers its enterprises' outlets.

    `habits`: also write each logger's detected minute interval and period label
    (ingest/hj212/detect.py) into the registry, so that a replay lands the readings at their
    true periods; otherwise the HJ212-2005 edition defaults apply (logger_defaults.csv)."""
    loggers = capture_loggers(records)
    facts: dict[str, dict] = {}
    if habits:
        from core.registry.logger_facts import allowed_minute_intervals
        from ingest.hj212.bulk import parse_records
        from ingest.hj212.detect import detect_habits

        bulk = parse_records(list(records), max_future=None)
        for mn, h in detect_habits(bulk.packets, bulk.values).items():
            f = {}
            if h.minute_interval_s in allowed_minute_intervals():
                f["minute_interval_s"] = h.minute_interval_s
            if h.hour_label is not None:
                f["hour_label"] = h.hour_label
            facts[mn] = f
    shutil.copytree(base_config, dest, dirs_exist_ok=True)
    ents_path = dest / "registry" / "enterprises.yaml"
    template = yaml.safe_load(ents_path.read_text(encoding="utf-8"))["enterprises"][0]
    enterprises = []
    for i, (mn, (pw, st)) in enumerate(sorted(loggers.items())):
        site = "cap_" + re.sub(r"[^a-z0-9_]", "_", mn.lower())[:50] + f"_{i}"
        outlet = {
            "site_id": site, "name_zh": f"采集排口{i}", "name_en": f"capture outlet {i}",
            "outlet_type": "flue_gas" if st == "31" else "waste_water",
            "logger": {"mn": mn, "password": pw, "protocol_edition": "HJ212-2005", **facts.get(mn, {})},
            "parameters": [],
        }  # fmt: skip
        ent = {k: v for k, v in template.items() if k != "outlets"}
        ent.update({"enterprise_id": f"cap_{i:04d}", "name_zh": f"采集企业{i}", "name_en": f"capture enterprise {i}",
                    "credit_code": None, "outlets": [outlet]})  # fmt: skip
        enterprises.append(ent)
    replace_enterprises(dest, enterprises)
    return loggers


@dataclass
class ReplayReport:
    connections: int = 0
    records: int = 0
    bytes: int = 0
    answers_bytes: int = 0
    lost: list[str] = field(default_factory=list)  # connections the server reset, and why


async def replay(records: Sequence[bytes], host: str, port: int, *, chunk: int = 1 << 16,
                 max_connections: int = 400, answer_wait_s: float = 600.0) -> ReplayReport:  # fmt: skip
    """Send the records, one connection per MN, then close each connection."""
    report = ReplayReport()
    groups = list(group_by_mn(records).items())
    gate = asyncio.Semaphore(max_connections)

    async def one(mn: bytes | None, group: list[bytes]) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(host, port)
            report.connections += 1

            async def drain_answers() -> None:
                while data := await reader.read(65536):
                    report.answers_bytes += len(data)

            answers = asyncio.create_task(drain_answers())
            data = b"".join(r + b"\r\n" for r in group)
            try:
                for at in range(0, len(data), chunk):
                    writer.write(data[at : at + chunk])
                    await writer.drain()
                writer.write_eof()
            except OSError as exc:  # reported, and the other loggers go on
                who = f"MN {mn.decode(errors='replace')}" if mn else "records without an MN"
                report.lost.append(f"{len(group)} records of {who}: {exc!r}")
                answers.cancel()
                await asyncio.gather(answers, return_exceptions=True)
                writer.close()
                return
            report.records += len(group)
            report.bytes += len(data)
            with contextlib.suppress(TimeoutError, ConnectionError):
                await asyncio.wait_for(
                    answers, answer_wait_s
                )  # the server hangs up once it has read all
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    await asyncio.gather(*(one(mn, g) for mn, g in groups))
    return report
