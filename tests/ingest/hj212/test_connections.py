"""ingest.hj212.connections: framing a connection's bytes, who may connect, who may log in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hj212_server_util import MN, PW, SITE, FakeWriter

from core.installation_key import installation_key, password_hmac
from core.landing import LandingZone
from core.registry.config import Registry, load_registry
from ingest.hj212.auth import LoginPolicy, PeerPolicy
from ingest.hj212.connections import Connection, Framer
from ingest.hj212.packet import Packet
from ingest.hj212.server import Hj212Server, ServerConfig

CONFIG = Path(__file__).resolve().parents[3] / "config"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CONFIG)


@pytest.fixture
def server(tmp_path: Path, registry: Registry) -> Hj212Server:
    config = ServerConfig(
        login=LoginPolicy(mn_failures=2, peer_failures=100, window_s=60, lockout_s=60),
        peers=PeerPolicy(max_connections=1),
    )
    return Hj212Server(config, registry, LandingZone(tmp_path / "landing"), tmp_path)


def conn_of(server: Hj212Server, host: str = "10.0.0.1") -> Connection:
    return Connection(server.config, FakeWriter((host, 5000)))  # type: ignore[arg-type]


def test_framer_cuts_at_crlf_and_hands_over_what_never_ends() -> None:
    framer = Framer(max_bytes=10)
    assert list(framer.feed(b"##a\r\n##b")) == [b"##a"]
    assert framer.rest == b"##b"
    assert list(framer.feed(b"c\r\n\r\n")) == [b"##bc"]  # an empty record is no record
    assert list(framer.feed(b"x" * 10)) == [] and framer.rest == b"x" * 10  # at the limit: waits
    assert list(framer.feed(b"y")) == [b"x" * 10 + b"y"] and framer.rest == b""  # over it: junk


def test_a_connection_names_its_peer_and_logger(server: Hj212Server) -> None:
    conn = conn_of(server)
    assert conn.origin() == "tcp://10.0.0.1:5000" and conn.origin("M9") == "tcp://10.0.0.1:5000/M9"
    assert conn.send(b"hello") and conn.writer.written == [b"hello"]  # type: ignore[attr-defined]
    conn.closed = True
    assert not conn.send(b"lost")


def test_logins_checked_against_the_registry(server: Hj212Server) -> None:
    connections = server.connections
    conn = conn_of(server)
    assert connections.site_of(MN) == SITE and connections.site_of("nobody") is None
    assert connections.authenticate(conn, Packet(cn="2051", mn=MN, pw=PW)) is None
    assert server.stats.auth_checked == 1
    assert connections.bind(conn, Packet(cn="2051", mn=MN, pw=PW, st="31")) is True  # first login
    assert (conn.mn, conn.site_id, conn.st) == (MN, SITE, "31")
    assert conn.upload_key == (MN.encode(), PW.encode(), b"31")
    assert connections.by_mn[MN] is conn and connections.live(MN) is conn
    # the same logger and password again: not checked again; a system packet keeps the ST
    assert connections.authenticate(conn, Packet(cn="2051", mn=MN, pw=PW)) is None
    assert server.stats.auth_checked == 1
    assert connections.bind(conn, Packet(cn="9011", mn=MN, pw=PW, st="91")) is False
    assert conn.st == "31"
    with pytest.raises(LookupError, match="not connected"):
        connections.live("nobody")


def test_refused_logins_say_why_in_the_dead_letter_only(
    server: Hj212Server, tmp_path: Path
) -> None:
    connections = server.connections
    conn = conn_of(server)
    kind, reason = connections.authenticate(conn, Packet(cn="2051", mn="", pw="x")) or ("", "")
    assert (kind, reason) == ("unknown_mn", "no MN in the packet: cannot tell which logger sent it")
    kind, reason = connections.authenticate(conn, Packet(cn="2051", mn="M404", pw="guess")) or (
        "",
        "",
    )
    hashed = password_hmac(installation_key(tmp_path), "M404", "guess")
    assert kind == "unknown_mn" and reason.endswith(f"[pw {hashed}]") and "guess" not in reason
    assert connections.authenticate(conn, Packet(cn="2051", mn=MN, pw="wrong")) == (
        "bad_password", f"wrong password for MN {MN!r} (logger of outlet {SITE})"
    )  # fmt: skip
    assert server.stats.lockouts == 0
    connections.authenticate(conn, Packet(cn="2051", mn=MN, pw="wrong again"))
    # the second wrong password locks the MN (mn_failures=2): logins refused unchecked
    assert (
        server.stats.lockouts == 1 and server.writer.current.events[0]["event"] == "login_lockout"
    )
    other = conn_of(server, "10.0.0.2")
    checked = server.stats.auth_checked
    kind, reason = connections.authenticate(other, Packet(cn="2051", mn=MN, pw=PW)) or ("", "")
    assert kind == "locked" and reason.startswith("login refused unchecked")
    assert server.stats.auth_checked == checked and other.refused  # nothing more read from it


def test_admission_per_host(server: Hj212Server) -> None:
    connections = server.connections
    assert connections.admit("10.0.0.1") is None
    assert connections.admit("10.0.0.1") is not None  # max_connections=1 per host
    assert server.stats.connections_refused == 1
    assert connections.admit("10.0.0.9") is None  # another host
    server.closing = True
    assert connections.admit("10.0.0.8") == "server shutting down"


def test_a_new_registry_makes_every_connection_log_in_again(
    server: Hj212Server, registry: Registry
) -> None:
    conn = conn_of(server)
    server.connections.live_conns.add(conn)
    server.connections.bind(conn, Packet(cn="2051", mn=MN, pw=PW, st="31"))
    server.set_registry(registry)
    assert conn.upload_key is None
