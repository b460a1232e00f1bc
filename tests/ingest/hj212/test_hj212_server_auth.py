"""The HJ 212 server's guards without sockets: login limits (both sides of every boundary, on a
fake clock), per-peer limits, password masking, keyed password hashes, the installation key,
the warehouse column (migration 0095) and back-fill requests that never ask for the future."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from core.installation_key import installation_key, key_path, password_hmac
from ingest.hj212.auth import (
    LoginLimiter,
    LoginPolicy,
    Passwords,
    PeerGuard,
    PeerPolicy,
    mask_passwords,
)
from ingest.hj212.backfill import ReceivedState


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


POLICY = LoginPolicy(mn_failures=5, peer_failures=10, window_s=600.0, lockout_s=300.0)


def test_mn_locks_at_the_fifth_failure_and_unlocks_when_the_lockout_ends() -> None:
    clock = Clock()
    lim = LoginLimiter(POLICY, clock)
    for _ in range(4):
        assert lim.failed("MN1", "10.0.0.9") == []
    assert lim.refusal("MN1", "10.0.0.9") is None  # 4 of 5: still checked
    (lock,) = lim.failed("MN1", "10.0.0.9")
    assert (lock.kind, lock.key, lock.failures) == ("mn", "MN1", 5)
    assert "locked for 300 s more" in (lim.refusal("MN1", "10.0.0.8") or "")
    assert lim.refusal("MN2", "10.0.0.8") is None  # other loggers are not affected
    clock.t += 299.9
    assert lim.refusal("MN1", "10.0.0.8") is not None
    clock.t += 0.1  # exactly lockout_s later: open again, counting afresh
    assert lim.refusal("MN1", "10.0.0.8") is None
    assert lim.failed("MN1", "10.0.0.8") == []


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    lim = LoginLimiter(POLICY, clock)
    for _ in range(4):
        lim.failed("MN1", f"10.0.1.{_}")
    clock.t += 600.1  # the 4 fall out of the window
    assert lim.failed("MN1", "10.0.1.9") == []
    # the other side: 4 failures, the 5th just inside the window locks
    lim2 = LoginLimiter(POLICY, clock)
    for _ in range(4):
        lim2.failed("MN1", f"10.0.1.{_}")
    clock.t += 599.9
    assert [x.kind for x in lim2.failed("MN1", "10.0.1.9")] == ["mn"]


def test_the_usual_peer_of_a_locked_mn_is_still_checked_others_are_not() -> None:
    clock = Clock()
    lim = LoginLimiter(POLICY, clock)
    lim.succeeded("MN1", "10.0.0.1")  # the real logger's host
    for i in range(5):
        lim.failed("MN1", f"172.16.0.{i}")  # someone guessing from elsewhere
    assert lim.refusal("MN1", "172.16.0.99") is not None  # refused without a check
    assert lim.refusal("MN1", "10.0.0.1") is None  # the real logger keeps sending
    clock.t += POLICY.trusted_peer_s + 1  # a host not seen for a week is no longer usual
    for i in range(5):
        lim.failed("MN1", f"172.16.1.{i}")
    assert lim.refusal("MN1", "10.0.0.1") is not None


def test_a_host_locks_at_its_tenth_failure_whatever_the_mns_and_even_unchecked() -> None:
    clock = Clock()
    lim = LoginLimiter(POLICY, clock)
    lim.succeeded("MN1", "10.0.0.1")
    for i in range(9):
        assert lim.failed(f"RANDOM{i}", "10.0.0.1", checked=i < 4) == []
    assert lim.refusal("MN1", "10.0.0.1") is None and not lim.peer_locked("10.0.0.1")
    (lock,) = lim.failed("RANDOM9", "10.0.0.1", checked=False)
    assert (lock.kind, lock.key) == ("peer", "10.0.0.1")
    # a locked host: logins of MNs it is not the usual host of are refused unchecked...
    assert lim.peer_locked("10.0.0.1") and lim.refusal("MN2", "10.0.0.1") is not None
    assert lim.refusal("", "10.0.0.1") is not None
    # ...but the MN it usually sends is still checked (loggers behind one NAT, review I4)
    assert lim.refusal("MN1", "10.0.0.1") is None
    # unless that MN is locked too: then refused unchecked
    for i in range(5):
        lim.failed("MN1", f"172.16.2.{i}")
    assert lim.refusal("MN1", "10.0.0.1") is not None
    # unchecked failures never locked an MN: RANDOM0..3 had one checked failure each
    assert lim.refusal("RANDOM0", "10.9.9.9") is None


def test_peer_guard_connections_and_throttle_boundaries() -> None:
    clock = Clock()
    guard = PeerGuard(
        PeerPolicy(max_connections=3, max_refused=50, window_s=60, throttle_s=60), clock
    )
    assert [guard.admit("h") for _ in range(3)] == [None, None, None]
    assert "already has 3 open connections" in (guard.admit("h") or "")
    assert guard.admit("other") is None
    guard.closed("h")
    assert guard.admit("h") is None
    assert not any(guard.refused("h") for _ in range(49))  # 49 of 50
    assert guard.refused("h")  # the 50th throttles
    assert "throttled" in (guard.admit("h") or "")
    clock.t += 60.0
    guard.closed("h")
    assert guard.admit("h") is None  # throttle over
    # refused records older than the window are forgotten
    for _ in range(49):
        guard.refused("k")
    clock.t += 60.1
    assert not guard.refused("k")


def test_mask_passwords_keeps_every_other_byte() -> None:
    raw = b"##0101QN=1;ST=32;CN=1072;PW=123456;MN=M\xff\xfe1;Flag=5;CP=&&NewPW=654321;DataTime=1&&ABCD"
    masked, changed = mask_passwords(raw)
    assert changed
    assert masked == (
        b"##0101QN=1;ST=32;CN=1072;PW=******;MN=M\xff\xfe1;Flag=5;CP=&&NewPW=******;DataTime=1&&****"
    )  # the CRC too: computed over the real password, it would narrow a guess (review I10)
    assert mask_passwords(b"##0010QN=1;ST=32;PW=;MN=1") == (b"##0010QN=1;ST=32;PW=;MN=1", False)
    assert mask_passwords(b"garbage") == (b"garbage", False)
    # a longer or shorter password gives the same mask: its length is not kept either
    assert mask_passwords(b";PW=1;")[0] == mask_passwords(b";PW=12345678;")[0] == b";PW=******;"


def _hmac_rfc2104(key: bytes, msg: bytes) -> str:
    """HMAC-SHA256 built by hand from RFC 2104 (block 64 bytes; ipad 0x36, opad 0x5c)."""
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + msg).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).hexdigest()


def test_password_hash_is_hmac_sha256_of_mn_and_password() -> None:
    # RFC 4231 test case 2 checks the hand-built construction itself
    assert _hmac_rfc2104(b"Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    key = bytes(range(32))
    assert password_hmac(key, "MN1", "123456") == "hmac-sha256:" + _hmac_rfc2104(
        key, b"MN1\x00123456"
    )
    # bound to the MN: the same password of two loggers gives two hashes
    assert password_hmac(key, "MN1", "123456") != password_hmac(key, "MN2", "123456")
    pw = Passwords(key, {"MN1": "123456"})
    assert pw.check("MN1", "123456") and pw.check("MN1", "123456")
    assert not pw.check("MN1", "123457") and not pw.check("MN1", "")
    assert not pw.check("NOSUCHMN", "123456") and not pw.check("", "123456")
    assert pw.checks == 6


def test_installation_key_is_created_once_private_and_checked(tmp_path: Path) -> None:
    key = installation_key(tmp_path)
    path = key_path(tmp_path)
    assert len(key) == 32 and installation_key(tmp_path) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    os.chmod(path, 0o644)
    assert installation_key(tmp_path) == key and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("not a key\n")
    with pytest.raises(ValueError, match=str(path)):
        installation_key(tmp_path)


def test_migration_0095_erases_clear_passwords_and_the_registry_load_writes_hashes(
    settings, tmp_path
) -> None:
    from core.registry.config import load_registry
    from core.settings import get_settings
    from warehouse.migrate import migrate, package_dir
    from warehouse.registry.store import store_registry

    every = package_dir("migrations")
    before = tmp_path / "before_0095"
    before.mkdir()
    for f in every.glob("*.sql"):
        if int(f.name[:4]) < 95:
            shutil.copy(f, before / f.name)
    no_views = tmp_path / "no_views"  # today's views read tables of later migrations
    no_views.mkdir()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(con, before, no_views)
    registry = load_registry(get_settings().config_dir)
    con.execute("INSERT INTO outlets (site_id, enterprise_id, outlet_type, logger_mn, logger_password) "
                "VALUES ('old', 'e', 'flue_gas', 'OLDMN', '956850')")  # fmt: skip
    migrate(con)  # 0095: the clear column is gone, its values erased
    cols = [r[0] for r in con.execute("DESCRIBE outlets").fetchall()]
    assert "logger_password" not in cols and "logger_password_hmac" in cols
    assert con.execute("SELECT logger_password_hmac FROM outlets").fetchall() == [(None,)]
    result = store_registry(con, registry)  # a missing hash makes the load write the outlets
    assert result.changed
    key = installation_key(settings.home)
    got = dict(con.execute("SELECT logger_mn, logger_password_hmac FROM outlets").fetchall())
    want = {o.logger.mn: password_hmac(key, o.logger.mn, o.logger.password)
            for _, o in registry.outlets.values()}  # fmt: skip
    assert got == want and len(got) >= 1
    clear = {o.logger.password for _, o in registry.outlets.values()}
    assert not clear & {v for v in got.values()}
    assert not store_registry(con, registry).changed  # loading again changes nothing
    con.close()


def test_backfill_never_asks_for_periods_that_have_not_started(tmp_path: Path) -> None:
    now = datetime(2026, 12, 2, 4, 0, 30, tzinfo=UTC)
    state = ReceivedState(tmp_path / "received.json")
    assert state.observe("M", "2051", now - timedelta(minutes=10), now) is None
    # a logger clock 5 minutes ahead (inside the contract's 600 s): the gap stops at now
    gap = state.observe("M", "2051", now + timedelta(minutes=5), now)
    assert gap is not None
    assert (gap.begin, gap.end) == (now - timedelta(minutes=9), now)
    assert gap.end <= now and gap.slots == 10
    # the other side: a packet whose gap ends in the past is asked for whole
    state2 = ReceivedState(tmp_path / "received2.json")
    state2.observe("M", "2051", now - timedelta(minutes=10), now)
    gap2 = state2.observe("M", "2051", now - timedelta(minutes=2), now)
    assert gap2 is not None and gap2.end == now - timedelta(minutes=3) and gap2.slots == 7


def test_peer_guard_forgets_hosts_by_window_age() -> None:
    """Review I17: per-host refused records are pruned by age, not only when a throttle fires."""
    clock = Clock()
    guard = PeerGuard(PeerPolicy(max_refused=50, window_s=60, throttle_s=60), clock)
    for i in range(1000):
        assert not guard.refused(f"10.1.{i // 256}.{i % 256}")
    assert len(guard._refused) == 1000
    clock.t += 59.9  # within the window: a sweep keeps them (once a window at most)
    guard.refused("10.9.9.9")
    assert len(guard._refused) == 1001
    clock.t += 0.2  # the 1000 are older than the window now
    guard.refused("10.9.9.8")
    assert set(guard._refused) == {"10.9.9.9", "10.9.9.8"}


def test_masked_crc_is_recomputed_by_unmask_frame() -> None:
    from ingest.hj212.onboarding import unmask_frame
    from ingest.hj212.protocol import frame, try_parse

    raw = frame(b"QN=20200101000000001;ST=31;CN=2051;PW=123456;MN=M1;Flag=5;CP=&&"
                b"DataTime=20260101000000;a21026-Avg=1.0&&")[:-2]  # fmt: skip
    masked, changed = mask_passwords(raw)
    assert changed and masked.endswith(b"&&****") and b"123456" not in masked
    assert raw[-4:] not in masked[-6:]  # the real CRC is gone
    back = unmask_frame(masked)
    res = try_parse(back + b"\r\n", max_future=None)
    assert res.ok and res.packet is not None and res.packet.pw == "******"


def test_gap_check_steps_by_the_loggers_minute_interval(tmp_path: Path) -> None:
    """Review I2: a 600 s logger's 2051 packets 10 min apart are in order; a missing one is a
    gap of exactly its periods (HJ 212-2017 minute data of 1..30 min, MinInterval)."""
    now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    state = ReceivedState(tmp_path / "a.json")
    t = now - timedelta(hours=2)
    assert state.observe("M10", "2051", t, now, minute_interval_s=600) is None
    for k in range(1, 6):  # consecutive 10-minute packets: never a gap
        assert state.observe("M10", "2051", t + timedelta(minutes=10 * k), now, 600) is None
    # 10:50 lost and 11:00 lost: the packet of 11:10 reveals exactly those two periods
    gap = state.observe("M10", "2051", t + timedelta(minutes=80), now, minute_interval_s=600)
    assert gap is not None and gap.interval_s == 600 and gap.slots == 2
    assert (gap.begin, gap.end) == (t + timedelta(minutes=60), t + timedelta(minutes=70))
    # the other side: with the default 60 s step the same 10-minute spacing is a 9-slot gap
    other = ReceivedState(tmp_path / "b.json")
    other.observe("M1", "2051", t, now)
    gap1 = other.observe("M1", "2051", t + timedelta(minutes=10), now)
    assert gap1 is not None and gap1.slots == 9


def test_installation_key_first_use_racing_processes_all_get_the_same_whole_key(
    tmp_path: Path,
) -> None:
    """Review I14: 8 processes create the key at once; none sees an empty file, all get one
    key, and no temporary file is left behind."""
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; "
        "from core.installation_key import installation_key; "
        "print(installation_key(Path(sys.argv[1])).hex())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    keys = {o.strip() for o, _ in outs}
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert bytes.fromhex(next(iter(keys))) == installation_key(tmp_path)
    assert sorted(p.name for p in key_path(tmp_path).parent.iterdir()) == ["installation.key"]
