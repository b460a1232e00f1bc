"""ingest.hj212.bulk.lane: which records the server parses in bulk, and where each one ends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hj212_server_util import MN, PW, SITE, FakeWriter, minute_packet, past_minute

from core.landing import LandingZone
from core.registry.config import Registry, load_registry
from ingest.hj212.connections import Connection
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import format_time, frame, try_parse
from ingest.hj212.server import Hj212Server, ServerConfig

CONFIG = Path(__file__).resolve().parents[4] / "config"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CONFIG)


@pytest.fixture
def server(tmp_path: Path, registry: Registry) -> Hj212Server:
    return Hj212Server(ServerConfig(), registry, LandingZone(tmp_path / "landing"), tmp_path)


def logged_in(server: Hj212Server) -> Connection:
    conn = Connection(server.config, FakeWriter())  # type: ignore[arg-type]
    server.connections.bind(conn, Packet(cn="2051", mn=MN, pw=PW, st="31"))
    return conn


def record(at: datetime, qn: str, **kw) -> bytes:  # type: ignore[no-untyped-def]
    return minute_packet(at, qn, **kw)[:-2]


def test_only_plain_uploads_of_a_logged_in_logger_take_the_lane(server: Hj212Server) -> None:
    lane = server.bulk
    assert lane.enabled  # the default time zone is a ZoneInfo
    at = past_minute(5)
    fresh = Connection(server.config, FakeWriter())  # type: ignore[arg-type]
    assert not lane.takes(fresh, record(at, "1"))  # not logged in: per packet (the login)
    conn = logged_in(server)
    assert lane.takes(conn, record(at, "1"))
    assert not lane.takes(conn, record(at, "1", pw="other"))  # another password: a login
    assert not lane.takes(conn, record(at, "1", flag=7))  # Flag bit D: a split packet
    assert not lane.takes(conn, record(at, "1") + b"x" * server.config.max_packet_bytes)
    heartbeat = record(at, "1").replace(b"CN=2051", b"CN=8013")
    assert not lane.takes(conn, heartbeat)  # not a data upload


def test_the_plan_lands_what_is_whole_and_leaves_the_rest_per_packet(server: Hj212Server) -> None:
    conn = logged_in(server)
    now = datetime.now(UTC)
    at = past_minute(5)
    items = [
        (conn, record(at, "20240101000000001", so2=700.0), now),  # lands
        (conn, record(at, "20240101000000002")[:-4] + b"0000", now),  # bad CRC: rejected
        (
            conn,
            record(past_minute(6), "20240101000000003", extra=";zz999-Avg=1"),
            now,
        ),  # per packet
        (conn, record(past_minute(7), "20240101000000004"), now),  # same origin and start as ...
        (conn, record(past_minute(7), "20240101000000004"), now),  # ... this: ambiguous
    ]
    plan = server.bulk.plan(items)
    assert set(plan.rejected) == {1} and plan.rejected[1].kind == "crc"
    assert set(plan.packets) == {0}
    assert plan.table is not None
    rows = plan.table.to_pylist()
    assert {(r["site_id"], r["parameter"]) for r in rows} == {(SITE, "so2"), (SITE, "o2")}
    assert all(r["origin"] == f"hj212:{MN}:20240101000000001" for r in rows)
    # units are the site's (ingest/site_units.py): the same as the per-packet lane gives
    server.per_packet.handle(conn, items[0][1], now)
    per_packet = {r["parameter"]: (r["value"], r["unit"]) for r in server.writer.current.rows}
    assert {r["parameter"]: (r["value"], r["unit"]) for r in rows} == per_packet


def test_filing_a_batch(server: Hj212Server) -> None:
    conn = logged_in(server)
    now = datetime.now(UTC)
    at = past_minute(5)
    b = server.writer.current
    b.fast = [
        (conn, record(at, "20240101000000001"), now),
        (conn, record(at, "20240101000000002")[:-4] + b"0000", now),
        (conn, record(past_minute(6), "20240101000000003", extra=";zz999-Avg=1"), now),
    ]
    asyncio.run(server.bulk.resolve(b))
    assert b.fast == [] and b.landed == 2 and b.bulk_landed == 1
    assert b.dead_kinds == {"crc": 1, "unknown_code": 1} and b.n_dead == 1
    assert b.tables and b.tables[0].num_rows == 2 and len(b.rows) == 2  # bulk and per packet
    cns = [try_parse(raw, max_future=None).packet.cn for _, raw in b.replies]  # type: ignore[union-attr]
    assert cns == ["9014", "9014"]


def test_a_bulk_parser_failure_loses_nothing(
    server: Hj212Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = logged_in(server)
    b = server.writer.current
    b.fast = [(conn, record(past_minute(5), "20240101000000001"), datetime.now(UTC))]

    def broken(items: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(server.bulk, "plan", broken)
    asyncio.run(server.bulk.resolve(b))
    assert b.landed == 1 and b.bulk_landed == 0 and len(b.rows) == 2  # taken per packet


def test_both_lanes_keep_a_blank_flag_as_no_flag(server: Hj212Server) -> None:
    """The reading contract's rule (core/contract.py normalise_flag): a blank flag is none."""
    conn = logged_in(server)
    now = datetime.now(UTC)
    at = format_time(past_minute(5))
    raw = frame(
        f"QN=20240101000000001;ST=31;CN=2051;PW={PW};MN={MN};Flag=5;"
        f"CP=&&DataTime={at};a21026-Avg=1,a21026-Flag=&&".encode()
    )[:-2]
    plan = server.bulk.plan([(conn, raw, now)])
    assert plan.table is not None and plan.table.column("flag").to_pylist() == [None]
    server.per_packet.handle(conn, raw, now)
    assert [r["flag"] for r in server.writer.current.rows] == [None]
