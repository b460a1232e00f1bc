"""ingest.hj212.per_packet: where one record of a connection ends, and the answer it gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hj212_server_util import MN, PW, SITE, FakeWriter, minute_packet, past_minute

from core.landing import LandingZone
from core.registry.config import Registry, load_registry
from ingest.hj212.auth import MASK_NOTE
from ingest.hj212.connections import Connection
from ingest.hj212.packet_outcome import packet_outcome
from ingest.hj212.protocol import DEFAULT_TZ, format_time, frame, parse_packet, try_parse
from ingest.hj212.server import Hj212Server, ServerConfig

CONFIG = Path(__file__).resolve().parents[3] / "config"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CONFIG)


@pytest.fixture
def server(tmp_path: Path, registry: Registry) -> Hj212Server:
    return Hj212Server(ServerConfig(), registry, LandingZone(tmp_path / "landing"), tmp_path)


def handle(server: Hj212Server, conn: Connection, record: bytes) -> None:
    server.writer.begin_record()
    server.per_packet.handle(conn, record, datetime.now(UTC))


def answers(server: Hj212Server) -> list[tuple[str | None, str | None]]:
    """(CN, QnRtn) of each answer owed in the current batch."""
    out = []
    for _, raw in server.writer.current.replies:
        p = try_parse(raw, max_future=None).packet
        assert p is not None
        out.append((p.cn, p.get("QnRtn")))
    return out


def packet(cn: str, cp: str, qn: str = "20240101000000001", pw: str = PW, flag: int = 5) -> bytes:
    return frame(f"QN={qn};ST=31;CN={cn};PW={pw};MN={MN};Flag={flag};CP=&&{cp}&&".encode())[:-2]


def test_a_data_packet_lands_in_the_sites_units_and_is_answered(
    server: Hj212Server, registry: Registry
) -> None:
    conn = Connection(server.config, FakeWriter())  # type: ignore[arg-type]
    at = past_minute(5)
    raw = minute_packet(at, "20240101000000001")[:-2]
    handle(server, conn, raw)
    b = server.writer.current
    assert (b.landed, b.n_dead, b.n_events) == (1, 0, 0)
    assert {r["parameter"] for r in b.rows} == {"so2", "o2"}
    assert all(r["site_id"] == SITE and r["period_start"] == at for r in b.rows)
    assert answers(server) == [("9014", None)]
    assert [(c.mn, m, cn) for c, m, cn, _ in b.observed] == [(MN, MN, "2051")]
    assert (conn.mn, conn.site_id) == (MN, SITE)  # logged in: bound to its logger
    # the one per-packet path: the same rows as packet_outcome gives HJ 212 over MQTT
    got = packet_outcome(
        parse_packet(raw, max_future=None),
        SITE,
        registry,
        server.contract,
        b.rows[0]["received_at"],
    )
    assert [(r["parameter"], r["value"], r["unit"]) for r in got.rows] == [
        (r["parameter"], r["value"], r["unit"]) for r in b.rows
    ]


def test_refusals_dead_letters_and_event_log(server: Hj212Server) -> None:
    conn = Connection(server.config, FakeWriter())  # type: ignore[arg-type]
    at = past_minute(5)
    handle(server, conn, b"x" * (server.config.max_packet_bytes + 1))
    handle(server, conn, minute_packet(at, "20240101000000002")[:-6] + b"0000")  # bad CRC
    b = server.writer.current
    assert b.dead_kinds == {"too_long": 1, "crc": 1} and b.n_dead == 2
    # a wrong password: 9011 QnRtn=3 (the same answer as an unknown MN)
    handle(server, conn, minute_packet(at, "20240101000000003", pw="nope")[:-2])
    assert answers(server) == [("9011", "3")] and b.dead_kinds["bad_password"] == 1
    b.replies.clear()
    # logged in; one unknown code: the rest lands, one dead letter says so
    handle(server, conn, minute_packet(at, "20240101000000004", extra=";zz999-Avg=1")[:-2])
    assert b.landed == 1 and b.dead_kinds["unknown_code"] == 1
    assert b.dead[-1]["reason"] == (
        "unknown pollutant code(s) 'zz999': no parameter mapping (the packet's other values "
        f"landed) {MASK_NOTE}"
    )
    # every reading refused by the contract: refused whole, 9011 QnRtn=2 (not 9014)
    b.replies.clear()
    dt = format_time(at)
    handle(server, conn, packet("2051", f"DataTime={dt};a21026-Avg=Infinity", "20240101000000005"))
    assert answers(server) == [("9011", "2")] and b.dead_kinds["contract"] == 1
    assert b.dead[-1]["reason"].startswith("contract: so2 (a21026): ")
    # a DataTime in the future: refused by the time window
    b.replies.clear()
    ahead = format_time((datetime.now(UTC) + timedelta(days=2)).astimezone(DEFAULT_TZ))
    handle(server, conn, packet("2051", f"DataTime={ahead};a21026-Avg=1", "20240101000000006"))
    assert answers(server) == [("9011", "2")] and b.dead_kinds["time"] == 1
    assert "refused by the reading contract" in b.dead[-1]["reason"]
    # a heartbeat carries no readings: the event log, with its reason
    handle(server, conn, packet("8013", "HeartbeatTime=120", "20240101000000007", flag=4))
    assert b.n_events == 1 and b.events[-1]["note"] == "CN 8013 carries no readings"


def test_logger_events_and_an_alarm_of_a_reset_clock(server: Hj212Server) -> None:
    conn = Connection(server.config, FakeWriter())  # type: ignore[arg-type]
    at = format_time(past_minute(5))
    handle(server, conn, packet("2021", f"DataTime={at};SB1-RS=1", "20240101000000011"))
    b = server.writer.current
    assert [(e["kind"], e["code"], e["status_code"]) for e in b.logger_events] == [
        ("run_status", "SB1", 1)
    ]
    handle(server, conn, packet("2072", "AlarmTime=19700101080000;a21026-Ala=1,AlarmType=1",
                                "20240101000000012"))  # fmt: skip
    assert len(b.logger_events) == 1 and b.dead_kinds["time"] == 1  # as over MQTT
    assert "alarm time refused by the reading contract" in b.dead[-1]["reason"]
    assert answers(server)[-1] == ("9011", "2")


def test_an_unexpected_error_is_a_dead_letter_not_a_crash(
    server: Hj212Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = Connection(server.config, FakeWriter())  # type: ignore[arg-type]

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(server.per_packet, "process", broken)
    handle(server, conn, b"##anything")
    b = server.writer.current
    assert b.dead_kinds == {"internal": 1} and b.n_dead == 1
    assert b.dead[0]["reason"] == "internal error while handling the packet: RuntimeError('bug')"
