"""Issue 18 attacks on the HJ 212 server, with real sockets on loopback: where it listens,
online password guessing, the dead-letter flood, per-peer limits, and readings the reading
contract refuses (1900/1970 DataTimes, Infinity, clocks ahead) — each refused with its reason
and an answer, the same way on the per-packet and the bulk lane."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
from hj212_server_util import (
    MN,
    PW,
    SITE,
    RawLogger,
    dead_letters,
    events,
    minute_packet,
    past_minute,
    port_of,
    readings,
    running_server,
)

from core.landing import DEAD_LETTERS, LandingZone
from core.registry.config import load_registry
from core.settings import load_settings
from ingest.hj212.auth import LoginPolicy, PeerPolicy
from ingest.hj212.protocol import DEFAULT_TZ
from ingest.hj212.server import Hj212Server, ServerConfig

pytestmark = pytest.mark.network
MASK_NOTE = (
    " [raw bytes: password values replaced by ******, CRC by ****, all other bytes as received]"
)


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(load_settings().config_dir)


def run(coro, timeout: float = 120):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, timeout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- item 6: where it listens ------------------------------------------------------------------


def test_default_bind_is_loopback_and_settings_are_honoured(settings, registry) -> None:
    # the defaults: dataclass and settings both say loopback, port 9212 (README settings table)
    assert ServerConfig().host == "127.0.0.1"
    default = ServerConfig.from_settings(load_settings({"ENVMON_HOME": str(settings.home)}))
    assert (default.host, default.port) == ("127.0.0.1", 9212)
    # the environment variables are honoured, and the server really binds there
    port = free_port()
    env = {"ENVMON_HOME": str(settings.home), "ENVMON_HJ212_HOST": "127.0.0.2",
           "ENVMON_HJ212_PORT": str(port)}  # fmt: skip
    cfg = ServerConfig.from_settings(load_settings(env), batch_wait_s=0.05)
    assert (cfg.host, cfg.port) == ("127.0.0.2", port)

    async def scenario() -> tuple[str, int]:
        server = Hj212Server(cfg, registry, LandingZone(settings.landing_root), settings.home)
        bound = await server.start()
        try:
            # nothing listens on 127.0.0.1 at that port: the server is only where it was told
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", port)
            reader, writer = await asyncio.open_connection("127.0.0.2", port)
            logger = RawLogger(reader, writer)
            await logger.send(minute_packet(past_minute(5), "20200101000000001"))
            assert (await logger.answer()).cn == "9014"
            await logger.close()
        finally:
            await server.stop()
        return bound

    assert run(scenario()) == ("127.0.0.2", port)


def test_serve_command_listens_where_the_settings_say(settings) -> None:
    """`envmon hj212 serve` without --host/--port: the settings (here ENVMON_HJ212_PORT; the
    host is the default, loopback). Before: it bound 0.0.0.0:9212 whatever the settings."""
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    port = free_port()
    env = {**os.environ, "ENVMON_HOME": str(settings.home), "ENVMON_HJ212_PORT": str(port)}
    env.pop("ENVMON_HJ212_HOST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "envmon", "hj212", "serve", "--no-backfill"],
        cwd=Path(__file__).resolve().parents[3], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert re.search(r"listening on 127\.0\.0\.1:(\d+)", line), line
        assert line.strip().endswith(f"127.0.0.1:{port}")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "0 records" in out and "0 lockouts" in out  # its summary at shutdown


# --- item 7: online password guessing ------------------------------------------------------------


def test_3000_password_guesses_are_mostly_never_checked_and_the_logger_gets_in_after(
    settings, registry, caplog
) -> None:
    """The attack of issue 18: 3,000 guesses of MN's 6-digit password from one host over
    reconnecting connections. Policy: an MN is locked after 5 failed logins, a host after 10
    (both in 600 s), for 20 s here (300 s by default). So exactly 5 guesses are checked: the
    6th to 10th are refused unchecked (the MN is locked) and lock the host, whose further logins
    are refused unchecked too (its connections are still accepted: loggers behind one NAT that
    logged in keep sending, review I4); the refused records throttle the host (PeerGuard: 200
    within 60 s, 5 s here). The real logger (same host here: loopback, never logged in before)
    is refused unchecked while locked and gets in once the lockout and the throttle are over.
    The attack is bounded by count (3,000) and time (15 s)."""
    policy = LoginPolicy(mn_failures=5, peer_failures=10, window_s=600, lockout_s=20.0)
    peers = PeerPolicy(max_refused=200, window_s=60, throttle_s=5.0)
    guesses = [f"{i:06d}" for i in range(3000)]
    assert PW not in guesses[:100]  # the first guesses (the ones that could be checked) are wrong

    async def scenario() -> tuple[int, list, float]:
        async with running_server(
            settings, registry, batch_wait_s=0.05, login=policy, max_auth_failures=3, peers=peers
        ) as server:
            port = port_of(server)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            answers = []
            sent = 0
            for c in range(0, len(guesses), 3):  # 3 guesses a connection, as a guesser would
                if loop.time() - t0 > 15:
                    break
                try:
                    logger = await RawLogger.connect(port)
                    blob = b"".join(
                        minute_packet(past_minute(5), f"2020010100{i:07d}", pw=pw)
                        for i, pw in enumerate(guesses[c : c + 3], start=c)
                    )
                    await logger.send(blob)
                    sent += 3
                    if c < 12:  # the first connections: collect the answers they get
                        with pytest.raises((ConnectionError, TimeoutError)):
                            while True:
                                answers.append(await logger.answer(timeout=5))
                    await logger.closed_by_server(timeout=5)
                    await logger.close()
                except (ConnectionError, OSError):
                    pass  # closed on accept before the guesses could even be written
            stats = server.stats
            assert stats.auth_checked == 5  # of 3,000 guesses
            assert stats.lockouts == 2  # the MN, then the host
            # the refused guesses throttle the host: most connections closed on accept
            assert stats.peers_throttled >= 1 and stats.connections_refused > 0
            # the real logger, while the host is locked: accepted, its login refused unchecked
            while server.peers.throttled("127.0.0.1"):
                await asyncio.sleep(0.1)
            assert server.logins.peer_locked("127.0.0.1")
            logger = await RawLogger.connect(port)
            await logger.send(minute_packet(past_minute(3), "20200101000010001"))
            no = await logger.answer()
            assert (no.cn, no.get("QnRtn")) == ("9011", "3")
            assert await logger.closed_by_server(timeout=5)
            # ... and after the lockout it is in: its reading lands and is answered
            await asyncio.sleep(max(0.0, t0 + policy.lockout_s + 0.5 - loop.time()))
            while server.peers.throttled("127.0.0.1"):
                await asyncio.sleep(0.1)
            logger = await RawLogger.connect(port)
            await logger.send(minute_packet(past_minute(3), "20200101000010000"))
            ok = await logger.answer()
            assert (ok.cn, ok.qn) == ("9014", "20200101000010000")
            await logger.close()
            return sent, answers, stats.auth_checked

    with caplog.at_level(logging.WARNING, logger="envmon.hj212"):
        sent, answers, checked = run(scenario())
    assert sent == 3000  # the whole attack was made (within its 15 s)
    # every answer a guesser got is the same refusal (QnRtn 3), checked or locked alike
    assert answers and {(a.cn, a.get("QnRtn")) for a in answers} == {("9011", "3")}
    # the lockouts are alerted: WARNING lines and events in the event log, never a password
    warned = [r.getMessage() for r in caplog.records if "login lockout" in r.getMessage()]
    assert len(warned) == 2 and any(f"MN '{MN}'" in w for w in warned)
    assert not any(g in w for w in warned for g in guesses[:20])
    lockouts = [e for e in events(settings) if e.get("event") == "login_lockout"]
    assert sorted(e["lockout"] for e in lockouts) == ["mn", "peer"]
    # dead letters: every refused guess delivered before the host lock, none keeping a password
    dead = dead_letters(settings)
    # every refused guess read is kept (bounded by the throttle), and the real logger's refusal
    assert 11 <= len(dead) <= sent + 1
    assert all(b"PW=******;" in d["raw"] and d["reason"].endswith(MASK_NOTE) for d in dead)
    assert not any(f"PW={g};".encode() in d["raw"] for d in dead for g in guesses[:20])
    wrong = f"wrong password for MN '{MN}' (logger of outlet {SITE})" + MASK_NOTE
    assert sum(d["reason"] == wrong for d in dead) == 5
    assert sum(d["reason"].startswith("login refused unchecked: ") for d in dead) == len(dead) - 5
    assert [r["parameter"] for r in readings(settings)] == ["so2", "o2"]
    assert checked == 6  # the 5 guesses, and the real logger's own login


MN2, PW2 = "G11010002220464737034", "264506"  # the second demo outlet (enterprises.yaml)
MN3 = "G11010003667262133510"  # the third: never logged in from this host


def test_a_misconfigured_logger_behind_a_shared_host_does_not_lock_out_the_others(
    settings, registry
) -> None:
    """Review I4: two loggers behind one address (loopback here, a NAT in the field). MN2 has a
    wrong password and reconnects; 15 failed logins lock MN2 (5th) and the host (10th). The
    logger MN, which logged in correctly from this host, keeps landing: on its open connection,
    and after reconnecting (this host is its usual one: its login is still checked). Logins
    that would need a check and have no claim on the host (MN3, MN2 itself) are refused
    unchecked while it is locked; no connection is closed on accept for the lock."""
    policy = LoginPolicy(mn_failures=5, peer_failures=10, window_s=600, lockout_s=60.0)

    async def scenario() -> None:
        async with running_server(
            settings, registry, batch_wait_s=0.05, login=policy, max_auth_failures=3, backfill=False
        ) as server:
            port = port_of(server)
            good = await RawLogger.connect(port)
            await good.send(minute_packet(past_minute(20), "20200101000020000"))
            assert (await good.answer()).cn == "9014"
            for k in range(15):  # the misconfigured logger: one packet a connection
                bad = await RawLogger.connect(port)
                await bad.send(
                    minute_packet(past_minute(19), f"2020010100003{k:04d}", mn=MN2, pw="000000")
                )
                assert ((a := await bad.answer()).cn, a.get("QnRtn")) == ("9011", "3")
                await bad.close()
                # meanwhile the good logger's open connection keeps landing
                await good.send(minute_packet(past_minute(18 - k), f"2020010100002{k:04d}"))
                assert (await good.answer()).cn == "9014"
            assert server.logins.peer_locked("127.0.0.1")
            assert server.stats.lockouts == 2 and server.stats.auth_checked == 1 + 5
            await good.close()
            # reconnecting from its usual host while the host is locked: checked, lands
            again = await RawLogger.connect(port)
            await again.send(minute_packet(past_minute(2), "20200101000029999"))
            assert (await again.answer()).cn == "9014"
            assert server.stats.auth_checked == 1 + 5 + 1  # its login was checked
            await again.close()
            # the other side: a logger with no history on this host is refused unchecked
            other = await RawLogger.connect(port)
            await other.send(
                minute_packet(past_minute(2), "20200101000039999", mn=MN3, pw="208237")
            )
            assert ((a := await other.answer()).cn, a.get("QnRtn")) == ("9011", "3")
            assert await other.closed_by_server(timeout=5)
            assert server.stats.connections_refused == 0  # nothing closed on accept
            await server.durable()

    run(scenario())
    got = readings(settings)
    assert len(got) == 2 * (1 + 15 + 1)  # SO2 and O2 of every packet of the good logger
    assert {r["site_id"] for r in got} == {SITE}
    dead = dead_letters(settings)
    assert len(dead) == 15 + 1
    assert sum(d["reason"].startswith("wrong password for MN") for d in dead) == 5
    assert sum(d["reason"].startswith("login refused unchecked: ") for d in dead) == 11


def test_unknown_mn_and_wrong_password_get_the_same_answer(settings, registry) -> None:
    async def scenario() -> list:
        async with running_server(settings, registry, batch_wait_s=0.05) as server:
            got = []
            for mn, pw in ((MN, "000001"), ("NOTREGISTERED0001", "000001"), ("", "000001")):
                logger = await RawLogger.connect(port_of(server))
                await logger.send(minute_packet(past_minute(5), "20200101000000001", mn=mn, pw=pw))
                got.append(await logger.answer())
                await logger.close()
            assert server.stats.auth_checked == 3  # each one cost one keyed hash
            return got

    answers = run(scenario())
    # identical but for the echoed MN: same CN, QnRtn, QN, Flag, PW echo
    shapes = {(a.cn, a.get("QnRtn"), a.qn, a.flag, a.pw) for a in answers}
    assert shapes == {("9011", "3", "20200101000000001", 4, "000001")}


# --- item 4: dead-letter flood, per-peer cost -----------------------------------------------------


def test_refused_connection_flood_makes_a_bounded_number_of_files(settings, registry) -> None:
    """Before: each refused connection forced its own durable file (~1,000 files in 5.7 s).
    Now the dead letters of all connections share the batch cadence: at most one file per
    batch_wait_s of the flood (+2 for the edges), and every refused record is a dead-letter row."""
    n = 400
    wait_s = 0.25

    async def scenario() -> tuple[float, int, int]:
        async with running_server(
            settings, registry, batch_wait_s=wait_s, max_auth_failures=1,
            # generous limits: this test is about the batching, not the lockout
            login=LoginPolicy(mn_failures=10**6, peer_failures=10**6),
            peers=PeerPolicy(max_connections=10**6, max_refused=10**6),
        ) as server:  # fmt: skip
            port = port_of(server)
            loop = asyncio.get_running_loop()
            t0 = loop.time()

            async def one(i: int) -> None:
                logger = await RawLogger.connect(port)
                # a refused login (the server hangs up) or garbage (the client hangs up)
                if i % 2:
                    await logger.send(
                        minute_packet(past_minute(5), f"20200101{i:09d}", pw="999999")
                    )
                    await logger.closed_by_server(timeout=10)
                else:
                    await logger.send(b"##0010garbage\r\n")
                await logger.close()

            for c in range(0, n, 50):
                await asyncio.gather(*(one(i) for i in range(c, c + 50)))
            elapsed = loop.time() - t0
            await asyncio.sleep(0.2)
            await server.durable()
            assert server.stats.records == n == server.stats.packets_dead
            return elapsed, server.stats.batches, server.stats.dead_letters

    elapsed, _batches, rows = run(scenario())
    files = LandingZone(settings.landing_root).list_batches(DEAD_LETTERS)
    assert rows == n and len(dead_letters(settings)) == n  # nothing dropped
    assert len(files) <= elapsed / wait_s + 2, (len(files), elapsed)
    assert len(files) < n / 10


def test_a_peer_sending_only_garbage_is_throttled_and_connections_are_capped(
    settings, registry
) -> None:
    peers = PeerPolicy(max_connections=5, max_refused=50, window_s=60, throttle_s=2.0)

    async def scenario() -> None:
        async with running_server(settings, registry, batch_wait_s=0.05, peers=peers) as server:
            port = port_of(server)
            # at most 5 open connections per host: the 6th is closed on accept
            idle = [await RawLogger.connect(port) for _ in range(5)]
            sixth = await RawLogger.connect(port)
            assert await sixth.closed_by_server(timeout=5)
            assert server.stats.connections_refused == 1
            # the first 5 still work: one logs in and lands
            await idle[0].send(minute_packet(past_minute(5), "20200101000000001"))
            assert (await idle[0].answer()).cn == "9014"
            for c in idle:
                await c.close()
            await asyncio.sleep(0.2)
            # garbage without a login: 49 refused records are tolerated, the 50th throttles
            garbage = await RawLogger.connect(port)
            await garbage.send(b"##0010garbage\r\n" * 49)
            await asyncio.sleep(0.3)
            assert server.stats.peers_throttled == 0
            await garbage.send(b"##0010garbage\r\n" * 30)
            assert await garbage.closed_by_server(timeout=5)
            assert server.stats.peers_throttled == 1
            again = await RawLogger.connect(port)
            assert await again.closed_by_server(timeout=5)  # throttled: closed on accept
            await asyncio.sleep(peers.throttle_s + 0.2)
            back = await RawLogger.connect(port)  # throttle over: the logger is let in
            await back.send(minute_packet(past_minute(4), "20200101000000002"))
            assert (await back.answer()).cn == "9014"
            await back.close()
            await server.durable()
            assert server.stats.accounted == server.stats.records

    run(scenario())
    reasons = [d["reason"] for d in dead_letters(settings)]
    assert 50 <= len(reasons) <= 79  # every garbage record read is kept
    assert set(reasons) == {"frame: not an HJ 212 frame: CRC field b'bage' is not 4 hex digits"}
    assert len(readings(settings)) == 4


# --- item 11: the reading contract ------------------------------------------------------------


def _contract_cases(now: datetime) -> dict[str, bytes]:
    """One packet per case, QN = case number; minute data of the demo stack."""
    local = now.astimezone(DEFAULT_TZ).replace(second=0, microsecond=0)
    return {
        "1900": minute_packet(datetime(1900, 1, 1, tzinfo=DEFAULT_TZ), "20200101000000101"),
        "1970": minute_packet(datetime(1970, 1, 1, 8, tzinfo=DEFAULT_TZ), "20200101000000102"),
        "1999-12-31": minute_packet(
            datetime(1999, 12, 31, 23, 59, tzinfo=DEFAULT_TZ), "20200101000000103"
        ),
        "ahead_700s": minute_packet(local + timedelta(seconds=720), "20200101000000104"),
        "infinity": minute_packet(
            local - timedelta(minutes=7), "20200101000000105", so2="Infinity"
        ),
        "1e999": minute_packet(local - timedelta(minutes=8), "20200101000000106", so2="1e999"),
        "nan_only": minute_packet(
            local - timedelta(minutes=9), "20200101000000107", so2="NaN", extra=""
        ).replace(b"a19001-Avg=8.1", b"a19001-Avg=-inf"),
        # the other side of each boundary: these land
        "2000-01-01": minute_packet(
            datetime(2000, 1, 1, 8, tzinfo=DEFAULT_TZ), "20200101000000111"
        ),
        "ahead_480s": minute_packet(local + timedelta(seconds=480), "20200101000000112"),
        "finite": minute_packet(local - timedelta(minutes=10), "20200101000000113", so2="1e300"),
    }


def _fix_crc(packet: bytes) -> bytes:
    from ingest.hj212.protocol import frame

    body = packet[6:-6]  # between ##NNNN and CRC+CRLF
    return frame(body)


def test_reading_contract_refuses_with_reasons_and_answers_on_both_lanes(
    settings, registry
) -> None:
    """1900 (landed at 15:54:17 UTC before), 1970, a clock 12 min ahead, Infinity: each refused
    with a dead letter naming why, answered 9011 QnRtn=2 when nothing of it may land; the other
    side of each boundary lands and is answered 9014. The same on a fresh connection (per-packet
    lane) and on a logged-in one (bulk lane)."""
    now = datetime.now(UTC)
    cases = {k: _fix_crc(v) for k, v in _contract_cases(now).items()}

    async def one_lane(server: Hj212Server, bulk: bool) -> dict[str, tuple]:
        answers = {}
        port = port_of(server)
        if bulk:
            logger = await RawLogger.connect(port)
            await logger.send(minute_packet(past_minute(30), "20200101000000100"))  # logs in
            assert (await logger.answer()).cn == "9014"
            await logger.send(b"".join(cases.values()))  # all in one batch: the bulk lane
            for _ in cases:
                a = await logger.answer()
                answers[a.qn] = (a.cn, a.get("QnRtn"))
            await logger.close()
        else:
            for packet in cases.values():
                logger = await RawLogger.connect(port)
                await logger.send(packet)
                a = await logger.answer()
                answers[a.qn] = (a.cn, a.get("QnRtn"))
                await logger.close()
        return answers

    async def scenario(bulk: bool) -> tuple[dict, int]:
        async with running_server(settings, registry, batch_wait_s=0.3, backfill=False) as server:
            answers = await one_lane(server, bulk)
            await server.durable()
            return answers, server.stats.packets_bulk

    per_packet, n_bulk_0 = run(scenario(bulk=False))
    dead_1 = sorted((d["raw"], d["reason"]) for d in dead_letters(settings))
    rows_1 = sorted((r["period_start"], r["parameter"], r["value"]) for r in readings(settings))
    # the bulk lane, into a second home
    settings2 = load_settings({"ENVMON_HOME": str(settings.home / "bulk")})

    async def scenario2() -> tuple[dict, int]:
        async with running_server(settings2, registry, batch_wait_s=0.3, backfill=False) as server:
            answers = await one_lane(server, True)
            await server.durable()
            return answers, server.stats.packets_bulk

    bulk, n_bulk = run(scenario2())
    dead_2 = sorted((d["raw"], d["reason"]) for d in dead_letters(settings2))
    rows_2 = sorted((r["period_start"], r["parameter"], r["value"]) for r in readings(settings2)
                    if r["origin"] != "hj212:" + MN + ":20200101000000100")  # fmt: skip
    assert n_bulk_0 == 0 and n_bulk >= 3  # the lanes really were different
    refused, landed = ("9011", "2"), ("9014", None)
    expected = {
        "20200101000000101": refused, "20200101000000102": refused, "20200101000000103": refused,
        "20200101000000104": refused, "20200101000000105": landed,  # its O2 landed
        "20200101000000106": landed, "20200101000000107": refused,
        "20200101000000111": landed, "20200101000000112": landed, "20200101000000113": landed,
    }  # fmt: skip
    assert per_packet == expected == bulk
    assert [_without_time_of_check(x) for _, x in dead_1] == [
        _without_time_of_check(x) for _, x in dead_2
    ]
    assert rows_1 == rows_2
    reasons = {raw.split(b";")[0][6:].decode(): reason for raw, reason in dead_1}
    assert reasons["QN=20200101000000101"].startswith(
        "time: DataTime 19000101000000 refused by the reading contract: 1899-12-31T15:54:17+00:00 "
        "is before 2000-01-01"
    )  # Asia/Shanghai's local mean time in 1900: +08:05:43
    assert reasons["QN=20200101000000102"].startswith(
        "time: DataTime 19700101080000 refused by the reading contract: 1970-01-01T00:00:00+00:00 is before"
    )
    assert "1999-12-31T15:59:00+00:00 is before 2000-01-01" in reasons["QN=20200101000000103"]
    assert "is in the future (later than" in reasons["QN=20200101000000104"]
    # the non-finite value is carried by the reading and refused by the contract (review I5)
    assert reasons["QN=20200101000000105"].startswith(
        "contract: so2 (a21026): field 'value': inf is not a finite number (the packet's other values landed)"
    )
    assert reasons["QN=20200101000000106"].startswith(
        "contract: so2 (a21026): field 'value': inf is not a finite number"
    )
    assert reasons["QN=20200101000000107"].startswith(
        "contract: so2 (a21026): field 'value': nan is not a finite number; "
        "o2 (a19001): field 'value': -inf is not a finite number"
    )
    assert len(dead_1) == 7  # one dead letter per packet, all its reasons in it
    landed_params = {(r[1], r[2]) for r in rows_1}
    assert ("so2", 1e300) in landed_params and ("o2", 8.1) in landed_params
    assert all(v is None or abs(v) < float("inf") for _, _, v in rows_1)  # no inf, no NaN
    assert min(r[0] for r in rows_1) == datetime(2000, 1, 1, tzinfo=UTC)


def _without_time_of_check(reason: str) -> str:
    """A future-time reason names the limit (now + 600 s), which differs between two runs."""
    return reason.split(" (later than ")[0]


MN_END, PW_END = "G11010006744365446081", "941258"  # datang_gaojing_da001: 600 s, end label


def test_both_lanes_check_the_window_on_the_labelled_period_start(settings, registry) -> None:
    """Review I7: an end-labelled 600 s logger with a clock ahead. A packet labelled 15 min
    ahead covers a period starting 5 min ahead (inside reading_max_future_s = 600 s): it lands
    on the per-packet lane (first packet of a connection) and on the bulk lane (later ones)
    alike; labelled 22 min ahead (start 12 min ahead) it is refused (9011 QnRtn=2) on both."""
    now = datetime.now(UTC).astimezone(DEFAULT_TZ).replace(second=0, microsecond=0)

    def pkt(minutes: int, qn: str) -> bytes:
        return minute_packet(now + timedelta(minutes=minutes), qn, mn=MN_END, pw=PW_END)

    async def scenario() -> dict[str, tuple[str, str | None]]:
        got = {}
        async with running_server(settings, registry, batch_wait_s=0.05, backfill=False) as server:
            port = port_of(server)
            for first in ("20200101000050001", "20200101000050003"):  # per-packet lane
                logger = await RawLogger.connect(port)
                minutes = 15 if first.endswith("1") else 22
                await logger.send(pkt(minutes, first))
                a = await logger.answer()
                got[a.qn] = (a.cn, a.get("QnRtn"))
                if first.endswith("1"):  # logged in: the next ones take the bulk lane
                    await logger.send(pkt(14, "20200101000050002") + pkt(22, "20200101000050004"))
                    for _ in range(2):
                        a = await logger.answer()
                        got[a.qn] = (a.cn, a.get("QnRtn"))
                await logger.close()
            await server.durable()
            assert server.stats.packets_bulk >= 1
        return got

    got = run(scenario())
    assert got == {
        "20200101000050001": ("9014", None), "20200101000050002": ("9014", None),  # land
        "20200101000050003": ("9011", "2"), "20200101000050004": ("9011", "2"),  # refused
    }  # fmt: skip
    starts = sorted({r["period_start"] for r in readings(settings)})
    assert starts == [
        (now + timedelta(minutes=4)).astimezone(UTC),
        (now + timedelta(minutes=5)).astimezone(UTC),
    ]
    reasons = [d["reason"] for d in dead_letters(settings)]
    assert len(reasons) == 2 and all("is in the future" in r for r in reasons)
