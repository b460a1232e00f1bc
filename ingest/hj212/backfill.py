"""History back-fill: notice gaps in what each logger sent, ask it for the missing period.

The server keeps its own record of what it has received (never the warehouse: ingestors do not
open it): per logger MN and data type (CN 2051 minute, 2061 hour, 2031 day) the latest period
start that is durable in the landing zone. It lives in `<ENVMON_HOME>/hj212/received.json`,
rewritten atomically after each landing batch.

A gap is a jump: a durable packet whose period starts more than one interval after the latest
one held (for minute data, the logger's own minute interval, registry logger facts). When it is seen on a live connection the server asks the logger (2051/2061/2031 with
BeginTime/EndTime) for the periods in between. That covers both a logger that comes back after
an outage (its first packet jumps over the outage) and packets lost on a live link. A request
never asks for the future: a gap ends at the last period that started by now (a logger clock
ahead within the reading contract's drift, `reading_max_future_s`, would otherwise make its
latest packet's predecessors look missing before they happened). Each gap is asked for once; the request and its outcome go to the journal
`<ENVMON_HOME>/hj212/backfill.jsonl`, one JSON object per line:

    {"at": ..., "event": "requested", "mn", "site_id", "cn", "qn", "begin", "end", "slots"}
    {"at": ..., "event": "success" | "no_data" | "refused" | "timeout" | "failed",
     "mn", "site_id", "cn", "qn", "begin", "end", "slots", "received", "qn_rtn", "exe_rtn", "error"}

`slots` is the number of periods in the gap, `received` how many distinct ones arrived (and
were made durable) while the request was open.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.schema import INTERVAL_DAY_S, INTERVAL_HOUR_S, INTERVAL_MINUTE_S

# Data types a logger can be asked to re-send, and the period each packet covers.
BACKFILL_INTERVAL_S = {"2051": INTERVAL_MINUTE_S, "2061": INTERVAL_HOUR_S, "2031": INTERVAL_DAY_S}
DEFAULT_MAX_SPAN = timedelta(days=7)  # never ask for more than this at once


@dataclass(frozen=True)
class Gap:
    mn: str
    cn: str
    begin: datetime  # first missing period start
    end: datetime  # last missing period start (inclusive)
    interval_s: int

    @property
    def slots(self) -> int:
        return int((self.end - self.begin).total_seconds() // self.interval_s) + 1


class ReceivedState:
    """Latest durable period start per (MN, CN), persisted as JSON under ENVMON_HOME."""

    def __init__(self, path: Path, max_span: timedelta = DEFAULT_MAX_SPAN):
        self.path = path
        self.max_span = max_span
        self._latest: dict[tuple[str, str], datetime] = {}
        self._dirty = False
        self._save_lock = threading.Lock()
        self.load_error: str | None = None
        if path.exists():
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                for mn, by_cn in raw.get("latest", {}).items():
                    for cn, text in by_cn.items():
                        self._latest[(mn, cn)] = datetime.fromisoformat(text)
            except (OSError, ValueError, AttributeError) as exc:
                # A damaged state file only costs back-fill knowledge; keep it for inspection.
                path.rename(path.with_suffix(f".damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}"))
                self._latest.clear()
                self.load_error = f"{path}: unreadable ({exc}); started empty"

    def latest(self, mn: str, cn: str) -> datetime | None:
        return self._latest.get((mn, cn))

    def observe(
        self,
        mn: str,
        cn: str,
        period_start: datetime,
        now: datetime | None = None,
        minute_interval_s: int | None = None,
    ) -> Gap | None:
        """Record a durable packet; return the gap it reveals (None for in-order or older data).

        Minute data (2051) step by the logger's minute interval (`minute_interval_s`, from
        `registry.logger_facts(mn)`; 1 min when unknown): a 10-minute logger's packets 600 s
        apart are in order, not a 9-minute gap after each one."""
        interval_s = BACKFILL_INTERVAL_S.get(cn)
        if interval_s is None:
            return None
        if cn == "2051" and minute_interval_s:
            interval_s = int(minute_interval_s)
        key = (mn, cn)
        last = self._latest.get(key)
        if last is not None and period_start <= last:
            return None
        self._latest[key] = period_start
        self._dirty = True
        if last is None:
            return None  # nothing known before: no basis for a gap
        step = timedelta(seconds=interval_s)
        if period_start - last <= step:
            return None
        begin, end = last + step, period_start - step
        earliest = period_start - self.max_span
        if begin < earliest:
            begin = earliest
        now = now or datetime.now(UTC)
        if end > now:  # never ask for periods that have not started yet
            if begin > now:
                return None
            end = begin + step * ((now - begin) // step)
        return Gap(mn, cn, begin, end, interval_s)

    def save(self) -> None:
        """Atomically rewrite the state file (only when something changed); thread-safe."""
        with self._save_lock:
            if not self._dirty:
                return
            self._dirty = False
            latest = dict(self._latest)  # a copy: the event loop keeps observing meanwhile
            out: dict[str, dict[str, str]] = {}
            for (mn, cn), at in sorted(latest.items()):
                out.setdefault(mn, {})[cn] = at.isoformat()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".tmp-{self.path.name}")
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump({"latest": out}, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)


class Journal:
    """Append-only JSONL record of back-fill requests and their outcomes."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def write(self, event: str, **fields: object) -> dict:
        entry = {"at": datetime.now(UTC).isoformat(), "event": event, **fields}
        line = json.dumps(entry, ensure_ascii=False, default=_json_default) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        return entry

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [
            json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()
        ]


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@dataclass
class OpenRequest:
    """A history request in flight: which periods of the gap have arrived so far."""

    gap: Gap
    received: set[datetime] = field(default_factory=set)

    def covers(self, cn: str, period_start: datetime) -> bool:
        return cn == self.gap.cn and self.gap.begin <= period_start <= self.gap.end
