"""The real 2016-08-24 capture replayed through the server: every record accounted for.

Its loggers are registered in a test registry built from the capture's own MNs and passwords.
Expected figures: the capture README (190,451 records; 190,365 with right length and CRC; 70 + 14
+ 1 + 1 = 86 corrupt) and, per record, the per-packet parser run independently here.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from hj212_server_util import dead_letters, events, readings, running_server

from core.registry.config import load_registry
from ingest.hj212.auth import PeerPolicy, mask_passwords
from ingest.hj212.events import EVENT_CNS
from ingest.hj212.protocol import try_parse
from ingest.hj212.readings import INTERVAL_BY_CN, packet_to_readings
from sim.hj212_replay import capture_registry, read_records, replay

pytestmark = pytest.mark.network
CAPTURE = Path(__file__).resolve().parents[3].parent / "shared" / "data/hj212_capture_2016-08-24"
REPO = Path(__file__).resolve().parents[3]
PARSE_KINDS = {"frame", "length", "crc", "header", "cp", "time"}


def _files(hours: list[str] | None) -> list[Path]:
    if not CAPTURE.exists():
        pytest.skip(f"{CAPTURE} not available")
    files = sorted(CAPTURE.glob("*.h212.gz"))
    return [f for f in files if hours is None or f.name[11:13] in hours]


def _expected(records: list[bytes]) -> tuple[int, int, int]:
    """(records the parser rejects, readings of the well-formed ones, well-formed data packets
    that carry at least one mapped value) by the per-packet parser."""
    bad = rows = landed = 0
    for r in records:
        res = try_parse(r, max_future=None)
        if not res.ok:
            bad += 1
            continue
        if res.packet.cn in INTERVAL_BY_CN:
            n = len(packet_to_readings(res.packet).rows)
            rows += n
            landed += n > 0
        elif res.packet.cn in EVENT_CNS:  # running status and alarms land as logger events
            landed += 1
    return bad, rows, landed


def _replay(settings, tmp_path, records):  # type: ignore[no-untyped-def]
    capture_registry(records, REPO / "config", tmp_path / "config")
    registry = load_registry(tmp_path / "config")

    async def scenario():  # type: ignore[no-untyped-def]
        # all the capture's loggers connect from one host (loopback): above the default limit
        # of connections per host, and the line noise of the capture's junk connection would,
        # on a slow run, count as that one host's refused records and throttle it (closing the
        # loggers' connections that have not sent their first packet yet): a real network
        # has one host per logger, so the per-host limits are lifted here
        async with running_server(settings, registry, batch_wait_s=0.5, batch_readings=50000,
                                  batch_records=20000, backfill=False,
                                  peers=PeerPolicy(max_connections=1000, max_refused=10**6)) as server:  # fmt: skip
            port = server._server.sockets[0].getsockname()[1]
            sent = await replay(records, "127.0.0.1", port)
        return sent, server.stats

    return asyncio.run(scenario())


def _check(settings, records, sent, stats) -> Counter:  # type: ignore[no-untyped-def]
    bad, rows, landed = _expected(records)
    assert not sent.lost, sent.lost[:5]  # no connection the server reset
    assert sent.records == stats.records == len(records)
    # every record is in exactly one place
    assert stats.packets_landed + stats.packets_events + stats.packets_dead == len(records)
    parse_dead = sum(n for kind, n in stats.dead_reasons.items() if kind in PARSE_KINDS)
    assert parse_dead == bad  # every corrupt record is a dead letter ...
    assert stats.dead_reasons.get("bad_password", 0) == stats.dead_reasons.get("unknown_mn", 0) == 0
    assert stats.packets_landed == landed and stats.readings == rows == len(
        readings(settings)
    )  # ... every good one lands
    assert len(events(settings)) == stats.packets_events
    dead = dead_letters(settings)
    assert len(dead) == stats.dead_letters
    assert all(
        d["raw"] and d["reason"] and d["origin"].startswith("tcp://127.0.0.1:") for d in dead
    )
    raw_dead = Counter(d["raw"] for d in dead if d["reason"].split(":")[0] in PARSE_KINDS)
    corrupt = Counter(mask_passwords(r)[0] for r in records if not try_parse(r, max_future=None).ok)
    assert raw_dead == corrupt  # the very bytes of each corrupt record are kept, PW masked
    return Counter(d["reason"].split(":")[0] for d in dead)


def test_capture_one_hour_through_the_server(settings, tmp_path) -> None:
    records = read_records(_files(["23"]))
    sent, stats = _replay(settings, tmp_path, records)
    reasons = _check(settings, records, sent, stats)
    assert reasons["crc"] + reasons["length"] + reasons["frame"] > 0


@pytest.mark.slow
def test_full_capture_day_through_the_server(settings, tmp_path) -> None:
    records = read_records(_files(None))
    assert len(records) == 190_451  # the README's total
    sent, stats = _replay(settings, tmp_path, records)
    reasons = _check(settings, records, sent, stats)
    # README: 70 + 14 + 1 + 1 records fail the length or CRC check or are not frames at all
    assert sum(reasons[k] for k in PARSE_KINDS) == 86
    assert stats.packets_landed + stats.packets_events == 190_451 - stats.packets_dead
