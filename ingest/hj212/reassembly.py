"""Join split packets (Flag bit D, PNUM/PNO) back into one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ingest.hj212.packet import Packet


@dataclass
class _Pending:
    parts: dict[int, Packet] = field(default_factory=dict)
    first_seen: float = 0.0


@dataclass(frozen=True)
class Evicted:
    """Parts of a split packet that never completed: hand them to the dead-letter store."""

    key: tuple[str | None, str | None]
    parts: tuple[Packet, ...]
    missing: tuple[int, ...]
    reason: str


class Reassembler:
    """Collect the parts of one split packet, keyed by (MN, QN), until all PNUM parts arrived.

    `add` returns the joined Packet when complete (else None); `evict` returns the incomplete
    sets older than `timeout_s`, so nothing is silently dropped.
    """

    def __init__(self, timeout_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.timeout_s = timeout_s
        self.clock = clock
        self._pending: dict[tuple[str | None, str | None], _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, packet: Packet) -> Packet | None:
        if packet.pnum is None or packet.pno is None:
            return packet
        key = (packet.mn, packet.qn)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(first_seen=self.clock())
        pending.parts.setdefault(packet.pno, packet)
        if len(pending.parts) < packet.pnum:
            return None
        del self._pending[key]
        parts = [pending.parts[i] for i in sorted(pending.parts)]
        head = parts[0]
        notes = tuple(n for p in parts for n in p.notes)
        return replace(
            head, pnum=None, pno=None, cp=tuple(g for p in parts for g in p.cp),
            flag=None if head.flag is None else head.flag & ~0x02, notes=notes,
            datatime=next((p.datatime for p in parts if p.datatime), None),
        )  # fmt: skip

    def evict(self, now: float | None = None) -> list[Evicted]:
        """Remove and return the incomplete packets older than the timeout."""
        now = self.clock() if now is None else now
        out = []
        for key, pending in list(self._pending.items()):
            if now - pending.first_seen >= self.timeout_s:
                del self._pending[key]
                parts = tuple(pending.parts[i] for i in sorted(pending.parts))
                total = parts[0].pnum or 0
                missing = tuple(i for i in range(1, total + 1) if i not in pending.parts)
                out.append(Evicted(key, parts, missing, f"split packet incomplete after "
                                   f"{self.timeout_s:g}s: missing parts {list(missing)} of {total}"))
        return out

    def drain(self) -> list[Evicted]:
        """Evict everything (shutdown)."""
        return self.evict(now=float("inf"))
