"""Who may talk to the HJ 212 server: password checks, login limits, per-peer cost limits.

- `Passwords`: the registry's logger passwords, held only as keyed hashes
  (`core.installation_key`); a packet's MN and PW are checked by hashing the PW (about 2 µs).
  An unknown MN costs the same hash and gives the same answer as a wrong password. The server
  caches the verified login per connection: a logged-in logger's later packets with the same
  MN and PW are not hashed again (and plain uploads take the bulk lane on their raw header).
- `LoginLimiter`: failed logins per MN and per peer host, counted in a sliding window across
  connections. Reaching a limit locks the MN (or the host) for `lockout_s`. While an MN is
  locked, its logins are refused WITHOUT checking the password — otherwise the lockout would
  not slow the guessing at all, since every guess would still be answered by the check — except
  from a host where that MN logged in successfully before (its usual peer): the real logger
  keeps sending while someone elsewhere guesses its password. While a HOST is locked, only the
  logins from it that would need a password check are refused unchecked (a connection that has
  not logged in, or an MN whose usual host it is not); connections that already logged in
  correctly keep sending, new connections are accepted, and an MN's usual host is still checked
  unless that MN is locked too — one misconfigured logger behind a shared NAT must not lock out
  the other loggers of that address (review I4). Lockouts are short (default 5 min) and expire
  by themselves.
- `PeerGuard`: what one peer host may cost: open connections, and refused records (garbage,
  refused logins) per window; over that, the host is throttled (connections closed on accept)
  for `throttle_s`.
- `mask_passwords`: the raw bytes of a packet with every `PW=` / `NewPW=` value replaced by
  `******` and its 4-hex CRC replaced by `****` (the CRC of the real password would narrow a
  six-digit guess to a few thousand candidates, review I10); all other bytes as received. For
  dead letters and the event log; `unmask_frame` recomputes the CRC.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from core.installation_key import password_hmac, same_hash

MASK = b"******"
CRC_MASK = b"****"
_PW_FIELD = re.compile(rb"(?<![A-Za-z0-9_])((?:New)?PW=)([^;&,\r\n]*)")
# the 4-hex CRC closing a frame (and each frame of split parts joined by CRLF)
_CRC = re.compile(rb"(?<=&&)[0-9A-Fa-f]{4}(?=\r\n|$)")
MASK_NOTE = (
    "[raw bytes: password values replaced by ******, CRC by ****, all other bytes as received]"
)


def mask_passwords(raw: bytes) -> tuple[bytes, bool]:
    """`raw` with each PW=/NewPW= value masked, and then the CRC of each frame too (it was
    computed over the real password); (masked bytes, whether anything was masked)."""
    masked, n = _PW_FIELD.subn(lambda m: m[1] + MASK if m[2] else m[0], raw)
    if masked == raw or n == 0:
        return raw, False
    return _CRC.sub(CRC_MASK, masked), True


def mask_text(text: str) -> str:
    return mask_passwords(text.encode("utf-8", "surrogateescape"))[0].decode(
        "utf-8", "surrogateescape"
    )


class Passwords:
    """MN -> keyed hash of its password; checks (MN, PW) pairs."""

    _DUMMY_MN = "\0unknown"

    def __init__(self, key: bytes, clear: Mapping[str, str]):
        self._key = key
        self._hash = {mn: password_hmac(key, mn, pw) for mn, pw in clear.items()}
        self._dummy = password_hmac(key, self._DUMMY_MN, "")
        self.checks = 0  # passwords hashed and compared

    def check(self, mn: str, pw: str) -> bool:
        """True when `pw` is the password of the registered logger `mn`. An unknown MN costs
        the same work as a wrong password (no timing difference)."""
        self.checks += 1
        offered = password_hmac(self._key, mn, pw)
        expected = self._hash.get(mn)
        ok = same_hash(offered, expected if expected is not None else self._dummy)
        return ok and expected is not None


@dataclass(frozen=True)
class LoginPolicy:
    mn_failures: int = 5  # failed logins of one MN within window_s that lock it
    peer_failures: int = 10  # failed logins from one host within window_s that lock it
    window_s: float = 600.0
    lockout_s: float = 300.0
    trusted_peer_s: float = 7 * 86400.0  # an MN's usual peer: a host it logged in from lately


@dataclass
class Lockout:
    kind: str  # "mn" or "peer"
    key: str  # the MN or the host
    failures: int
    until: datetime  # UTC

    def describe(self) -> str:
        what = f"logger MN {self.key!r}" if self.kind == "mn" else f"peer host {self.key}"
        return (
            f"login lockout of {what}: {self.failures} failed logins within the window, "
            f"refused unchecked until {self.until.isoformat(timespec='seconds')}"
        )


@dataclass
class _Window:
    times: deque = field(default_factory=deque)
    locked_until: float = 0.0


class LoginLimiter:
    """Failed logins per MN and per host (sliding window), with lockouts."""

    def __init__(
        self,
        policy: LoginPolicy,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ):
        self.policy = policy
        self.clock = clock
        self.max_keys = max_keys
        self._mn: dict[str, _Window] = {}
        self._peer: dict[str, _Window] = {}
        self._trusted: dict[str, dict[str, float]] = {}  # MN -> host -> last successful login
        self.lockouts = 0

    def _prune(self, table: dict[str, _Window], now: float) -> None:
        if len(table) < self.max_keys:
            return
        horizon = now - self.policy.window_s
        stale = [
            k
            for k, w in table.items()
            if w.locked_until <= now and (not w.times or w.times[-1] < horizon)
        ]
        for key in stale:
            del table[key]
        while len(table) >= self.max_keys:  # still full: forget the oldest entries
            del table[next(iter(table))]

    def peer_locked(self, host: str) -> bool:
        w = self._peer.get(host)
        return w is not None and w.locked_until > self.clock()

    def refusal(self, mn: str, host: str) -> str | None:
        """Why a login of `mn` from `host` is refused without checking it, or None (check it).

        A locked host's logins are refused unchecked, except an MN whose usual host it is (and
        which is not locked itself); a locked MN's logins are refused unchecked except from its
        usual host. Only logins are asked about: a connection that logged in is never refused."""
        now = self.clock()
        pw = self._peer.get(host)
        mw = self._mn.get(mn)
        mn_locked = mw is not None and mw.locked_until > now
        usual = bool(mn) and self._usual_peer(mn, host, now)
        if pw is not None and pw.locked_until > now and (mn_locked or not usual):
            return f"peer host {host} is locked for {pw.locked_until - now:.0f} s more after failed logins"
        if mn_locked and not usual:
            assert mw is not None
            return f"logger MN {mn!r} is locked for {mw.locked_until - now:.0f} s more after failed logins"
        return None

    def _usual_peer(self, mn: str, host: str, now: float) -> bool:
        seen = self._trusted.get(mn, {}).get(host)
        return seen is not None and now - seen <= self.policy.trusted_peer_s

    def failed(self, mn: str, host: str, *, checked: bool = True) -> list[Lockout]:
        """Record a refused login; returns the lockouts it starts. A refusal without a check
        (already locked) counts against the host only."""
        now = self.clock()
        out = []
        tables = [("peer", self._peer, host, self.policy.peer_failures)]
        if checked:
            tables.insert(0, ("mn", self._mn, mn, self.policy.mn_failures))
        for kind, table, key, limit in tables:
            w = table.get(key)
            if w is None:
                self._prune(table, now)
                w = table[key] = _Window()
            w.times.append(now)
            while w.times and w.times[0] < now - self.policy.window_s:
                w.times.popleft()
            while len(w.times) > limit:
                w.times.popleft()
            if len(w.times) >= limit and w.locked_until <= now:
                w.locked_until = now + self.policy.lockout_s
                n = len(w.times)
                w.times.clear()  # after the lockout, counting starts afresh
                self.lockouts += 1
                until = datetime.now(UTC) + timedelta(seconds=self.policy.lockout_s)
                out.append(Lockout(kind, key, n, until))
        return out

    def succeeded(self, mn: str, host: str) -> None:
        hosts = self._trusted.setdefault(mn, {})
        if host not in hosts and len(hosts) >= 8:  # a logger has few usual hosts: keep the latest
            del hosts[min(hosts, key=hosts.__getitem__)]
        hosts[host] = self.clock()


@dataclass(frozen=True)
class PeerPolicy:
    max_connections: int = 200  # open connections per host (loggers behind one NAT share one)
    max_refused: int = 200  # refused records (garbage, refused logins) per host within window_s
    window_s: float = 60.0
    throttle_s: float = 60.0  # a host over max_refused is refused connections this long


class PeerGuard:
    """Open connections and refused records per peer host."""

    def __init__(self, policy: PeerPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self.clock = clock
        self.open: dict[str, int] = {}
        self._refused: dict[str, deque] = {}
        self._throttled: dict[str, float] = {}
        self.throttles = 0
        self._swept = clock()

    def admit(self, host: str) -> str | None:
        """None when a new connection from `host` may proceed (and is counted), else why not."""
        now = self.clock()
        until = self._throttled.get(host)
        if until is not None:
            if until > now:
                return f"peer host {host} is throttled for {until - now:.0f} s more (too many refused packets)"
            del self._throttled[host]
        n = self.open.get(host, 0)
        if n >= self.policy.max_connections:
            return f"peer host {host} already has {n} open connections (maximum {self.policy.max_connections})"
        self.open[host] = n + 1
        return None

    def closed(self, host: str) -> None:
        n = self.open.get(host, 0) - 1
        if n > 0:
            self.open[host] = n
        else:
            self.open.pop(host, None)

    def throttled(self, host: str) -> bool:
        until = self._throttled.get(host)
        return until is not None and until > self.clock()

    def _sweep(self, now: float) -> None:
        """Forget hosts with no refused record within the window, and ended throttles (at most
        once a window: the per-host memory stays bounded by the hosts of the last window)."""
        if now - self._swept < self.policy.window_s:
            return
        self._swept = now
        horizon = now - self.policy.window_s
        for h in [h for h, d in self._refused.items() if not d or d[-1] < horizon]:
            del self._refused[h]
        for h in [h for h, until in self._throttled.items() if until <= now]:
            del self._throttled[h]

    def refused(self, host: str) -> bool:
        """Count a refused record of `host`; True when this starts throttling it."""
        now = self.clock()
        self._sweep(now)
        q = self._refused.setdefault(host, deque())
        q.append(now)
        while q and q[0] < now - self.policy.window_s:
            q.popleft()
        if len(q) >= self.policy.max_refused and not self.throttled(host):
            q.clear()
            self._throttled[host] = now + self.policy.throttle_s
            self.throttles += 1
            return True
        return False
