"""Data-logger simulator: the demo enterprises' loggers, speaking HJ 212 over TCP.

Each outlet of the registry gets a logger that connects to the server and sends minute data
(CN 2051), hourly data (2061, aggregated from its own minute data), optionally daily data
(2031, from the same), running status (2021, `SB1-RS`) and real-time data (2011), with Flag A=1
so the server answers each packet (9014). Like real loggers (issue #17), each has its own habits,
the registry's facts of its logger (`minute_interval_s`, `hour_label`) unless the options say
otherwise:

- a minute-data interval of 60, 300 or 600 s: one 2051 packet per interval carrying the
  Min/Avg/Max of the interval (flow: also the volume of the interval, `-Cou`);
- an hour label: `start` (DataTime is the start of the period, as HJ 212-2017 writes it) or
  `end` (the end of the period, what most loggers of the 2016 capture do) — for 2051, 2061 and
  2031 alike;
- its own O2-corrected values (`ZsAvg`) where the outlet has O2 and a reference O2, computed
  with `transforms.standards.emissions.o2_corrected` (hourly: from the hour's mean
  concentration and mean O2).

What the values look like:

- a daily load cycle (production by day) around a level below the outlet's permit limit;
- occasional exceedance episodes (above the permit limit, O2-corrected where the limit is);
- maintenance (flag M) episodes, a daily calibration (flag C) of the analysers, stuck
  (constant) values, minutes with no data at all (instrument gap), and link outages: the
  logger disconnects, keeps what it measures, and reconnects later;
- scripted episodes (the demo's scenario): an exceedance, a frozen analyser, an outage, a logger
  whose hourly values disagree with its own minute data (`hourly_mismatch`: tampered or faulty
  logger software), and a shut-down (`shutdown`: O2 near 21 %, flow almost nil, the pollution-
  treatment facility reported stopped too, SB1-RS=0 — CN 2021 SBn-RS is the treatment facility's
  status, HJ 212-2017; the shut-down itself shows in the flow and O2);
- optionally damaged packets (bad CRC) that the server must dead-letter.

It answers the server as a logger does: 9011 then 9012 for a clock read (1011, with a 1011
upload of SystemTime), a clock set (1012) and a history request (2051/2061/2031 with
BeginTime/EndTime: the stored packets whose DataTime lies in that period are sent again with the
request's QN; ExeRtn 100 when it has none). Unanswered packets are sent again (up to `retries`
times on a live connection).

When the server goes away (connection reset, closed, refused), the logger reconnects with a
bounded exponential backoff, logging each attempt, and sends again every packet the server had
not answered; it gives up with `SimulatorConnectionError` after `reconnect_max_s` without a
connection, never waiting silently. The guarantee, as the server answers a packet only once its
batch is durable: every packet is landed at least once (a packet whose answer was lost when the
server died lands twice), and the warehouse holds every reading exactly once (a redelivered
reading collapses onto its natural key).

The data are deterministic for a seed (each logger has its own random stream); the timing
is real: `speedup` simulated seconds per real second, 0 = as fast as the server takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from core.registry.config import Registry
from core.registry.logger_facts import HOUR_LABELS, allowed_minute_intervals, effective_facts
from core.registry.models import Outlet
from core.schema import INTERVAL_DAY_S, INTERVAL_HOUR_S, INTERVAL_MINUTE_S
from ingest.hj212 import builders
from ingest.hj212.codes import map_code
from ingest.hj212.crc import crc16
from ingest.hj212.packet import VERSION_2005, VERSION_2017
from ingest.hj212.protocol import (
    DEFAULT_TZ,
    StreamFramer,
    format_time,
    frame,
    parse_time,
    try_parse,
)
from sim.generator import OUTLET_TYPICAL
from transforms.standards.emissions import o2_corrected

log = logging.getLogger(__name__)

_ZS_PARAMETERS = frozenset({"so2", "nox", "dust", "co"})  # concentrations reported O2-corrected
_CALIBRATED = frozenset(
    {"so2", "nox", "o2", "co", "cod", "nh3n", "tp", "tn"}
)  # analysers with zero/span checks
_FLOWS = frozenset({"flue_flow", "ww_flow"})
# A shut-down as the real loggers of the capture show it: air in the flue (O2 just under 21 %),
# almost no flow, the analysers still reading a little. Simulation levels, not a standard's numbers.
_SHUTDOWN_O2_PCT = (20.55, 20.9)
_SHUTDOWN_FLOW_SHARE = 0.02
_SHUTDOWN_CONC_SHARE = 0.15


class SimulatorConnectionError(ConnectionError):
    """A simulated logger could not reach the server within its reconnect budget."""


@dataclass(frozen=True)
class Episode:
    """A scripted event on one outlet (the demo's scenario), on top of the random ones.

    kind: `exceedance` (the parameter at `factor` x its permit limit, O2-corrected where the
    limit is), `stuck` (the parameter repeats its first value: a frozen analyser), `outage`
    (the instruments produce nothing: no data at all, nothing to back-fill), `hourly_mismatch`
    (the logger's hourly values of the parameter are `factor` x what its own minute data give),
    `shutdown` (the facility stops: O2 near 21 %, flow almost nil, SB1-RS=0)."""

    site_id: str
    kind: str
    start: datetime
    minutes: int
    parameter: str | None = None
    factor: float = 1.5


EPISODE_KINDS = ("exceedance", "stuck", "outage", "hourly_mismatch", "shutdown")


@dataclass(frozen=True)
class LoggerHabits:
    """How one logger sends: its minute-data interval and whether DataTime is a period's start or end."""

    minute_interval_s: int = INTERVAL_MINUTE_S
    hour_label: str = "start"

    def __post_init__(self) -> None:
        valid = allowed_minute_intervals()
        if self.minute_interval_s not in valid or INTERVAL_HOUR_S % self.minute_interval_s:
            raise ValueError(f"minute interval {self.minute_interval_s} s; valid: {valid}")
        if self.hour_label not in HOUR_LABELS:
            raise ValueError(f"hour label {self.hour_label!r}; valid: {', '.join(HOUR_LABELS)}")


def registry_habits(outlet: Outlet) -> LoggerHabits:
    """The registry's facts of the outlet's logger, the edition's defaults where it has none
    (`core/registry/logger_defaults.csv`, as the server applies them)."""
    lg = outlet.logger
    facts = effective_facts(lg.protocol_edition, lg.minute_interval_s, lg.hour_label)
    return LoggerHabits(facts.minute_interval_s, facts.hour_label)


@dataclass(frozen=True)
class LoggerSimOptions:
    seed: int = 0
    speedup: float = 0.0  # simulated seconds per real second; 0 = as fast as possible
    hourly: bool = True  # send 2061 hourly data
    daily: bool = False  # send 2031 daily data at each local midnight
    running_status_s: int = 0  # send 2021 running status (SB1-RS) every this many seconds (0 = no)
    realtime_s: int = 0  # also send 2011 real-time data every this many seconds (0 = no)
    exceed_rate: float = 0.01  # chance per outlet-hour of an exceedance episode
    maintenance_rate: float = 0.005  # chance per outlet-hour of a maintenance (M) episode
    calibration_hour: int | None = 2  # local hour of the daily 10-minute calibration (C)
    stuck_rate: float = 0.003  # chance per parameter-hour of a stuck-value episode
    gap_rate: float = 0.002  # chance per minute that the instruments produce nothing
    outage_rate: float = 0.0  # chance per outlet-hour of a link outage (disconnect, reconnect)
    corrupt_rate: float = 0.0  # share of packets also sent once with a damaged CRC
    window: int = 128  # unanswered packets in flight per logger
    ack_timeout_s: float = 10.0
    retries: int = 3
    linger_s: float = 1.5  # after the last packet, stay to answer the server's requests
    clock_drift_s: float = 0.0
    reconnect_max_s: float = (
        120.0  # give up (an error, not a hang) after this long without a connection
    )
    reconnect_delay_s: tuple[float, float] = (0.1, 5.0)  # first and largest backoff delay
    episodes: tuple[Episode, ...] = ()  # scripted events (the demo scenario)
    habits: dict[str, LoggerHabits] = field(
        default_factory=dict
    )  # per site: overrides the registry
    minute_interval_s: int | None = None  # for every logger: overrides the registry
    hour_label: str | None = None  # for every logger: overrides the registry


@dataclass
class SimReport:
    loggers: int = 0
    packets: int = 0  # data packets sent (first sends)
    readings: int = 0  # readings in those packets
    status_packets: int = 0  # CN 2021 running-status packets sent (first sends)
    resends: int = 0
    acks: int = 0
    unacknowledged: int = 0  # gave up after the retries
    corrupt: int = 0  # damaged copies sent
    connects: int = 0
    reconnects: int = 0  # connections made again after the server went away
    connect_failures: int = 0  # attempts that failed (refused, reset, timed out)
    outages: int = 0
    history_requests: int = 0
    history_packets: int = 0
    clock_reads: int = 0
    clock_sets: int = 0
    expected_readings: int = 0  # distinct readings generated (what the warehouse should hold)
    seconds: float = 0.0
    flags: Counter = field(default_factory=Counter)  # data flags of the minute values

    def add(self, other: SimReport) -> None:
        for name in ("loggers", "packets", "readings", "status_packets", "resends", "acks", "unacknowledged",
                     "corrupt", "connects", "reconnects", "connect_failures", "outages", "history_requests",
                     "history_packets", "clock_reads", "clock_sets", "expected_readings"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.flags.update(other.flags)


@dataclass(frozen=True)
class _Channel:
    """One parameter as the logger sends it."""

    parameter: str
    code: str
    factor: float  # site unit -> code unit
    decimals: int


def zs_factor(o2_pct: np.ndarray | float, reference_o2_pct: float) -> np.ndarray:
    """o2_corrected(1, O2, reference) elementwise (NaN where the standards module gives none)."""
    o2 = pl.Series(np.atleast_1d(np.asarray(o2_pct, dtype=float)), dtype=pl.Float64)
    return o2_corrected(1.0, o2, reference_o2_pct).fill_null(float("nan")).to_numpy()


class _Values:
    """Minute values of one outlet for the whole run (arrays over minutes x parameters)."""

    def __init__(self, registry: Registry, site_id: str, outlet: Outlet, start: datetime, minutes: int,
                 opts: LoggerSimOptions, rng: np.random.Generator):  # fmt: skip
        params = sorted({m.parameter for m in outlet.parameters if m.interval_s < INTERVAL_HOUR_S})
        self.params = params
        n, k = minutes, len(params)
        tz = DEFAULT_TZ
        local_hour = np.array(
            [
                (
                    (start + timedelta(minutes=i)).astimezone(tz).hour
                    + (start + timedelta(minutes=i)).astimezone(tz).minute / 60.0
                )
                for i in range(0, n)
            ]
        )
        load = 1.0 + 0.25 * np.cos(
            (local_hour - 14.0) / 24.0 * 2 * math.pi
        )  # production peaks mid-afternoon
        o2_level = OUTLET_TYPICAL.get("o2", (8.0, 0.05))[0]
        ref_o2 = outlet.reference_o2_pct
        avg = np.empty((n, k))
        limits: dict[int, tuple[float, bool]] = {}
        for j, p in enumerate(params):
            level, amp = OUTLET_TYPICAL.get(p, (10.0, 0.2))
            limit = _limit(registry, site_id, outlet, p)
            if limit is not None:
                value, on_o2 = limit
                raw_per_zs = (
                    1.0 / float(zs_factor(o2_level, ref_o2)[0])
                    if on_o2 and ref_o2 is not None
                    else 1.0
                )
                level = min(level, 0.5 * value * raw_per_zs)
                limits[j] = (value, on_o2 and ref_o2 is not None)
            shape = load if p not in ("o2", "ph", "flue_temp") else 1.0 + 0.02 * (load - 1.0)
            avg[:, j] = level * (1 + amp * (shape - 1.0) * 4) * (1 + rng.normal(0, 0.03, n))
        o2_col = params.index("o2") if "o2" in params else None
        o2 = avg[:, o2_col] if o2_col is not None else np.full(n, o2_level)
        flags = np.full((n, k), "N", dtype="<U1")
        hours = (n + 59) // 60
        # exceedance episodes: 20-90 minutes above the limit (O2-corrected when the limit is)
        for h in np.flatnonzero(rng.random(hours) < opts.exceed_rate):
            if not limits:
                break
            j = list(limits)[int(rng.integers(len(limits)))]
            a = h * 60 + int(rng.integers(0, 40))
            b = min(n, a + int(rng.integers(20, 91)))
            value, on_o2 = limits[j]
            target = value * rng.uniform(1.1, 1.6, b - a)
            if on_o2:
                target = target / zs_factor(o2[a:b], ref_o2)
            avg[a:b, j] = target
        # stuck values: a parameter repeats one value for 30-120 minutes
        for h, j in zip(*np.nonzero(rng.random((hours, k)) < opts.stuck_rate), strict=True):
            a = h * 60 + int(rng.integers(0, 60))
            b = min(n, a + int(rng.integers(30, 121)))
            avg[a:b, j] = avg[min(a, n - 1), j]
        # maintenance (M): all instruments for 30-120 minutes
        for h in np.flatnonzero(rng.random(hours) < opts.maintenance_rate):
            a = h * 60
            flags[a : min(n, a + int(rng.integers(30, 121))), :] = "M"
        # calibration (C): the analysers, 10 minutes at the same local hour each day
        if opts.calibration_hour is not None:
            at = (local_hour >= opts.calibration_hour) & (
                local_hour < opts.calibration_hour + 10 / 60
            )
            for j, p in enumerate(params):
                if p in _CALIBRATED:
                    flags[at, j] = "C"
        scripted = [e for e in opts.episodes if e.site_id == site_id]
        outages = []
        self.running = np.ones(n, dtype=bool)  # the treatment facility (SB1) runs
        self.mismatch: list[tuple[int, int, int, float]] = []  # (first, end minute, column, factor)
        for e in scripted:
            if e.kind not in EPISODE_KINDS:
                raise ValueError(f"episode kind {e.kind!r}; valid: {', '.join(EPISODE_KINDS)}")
            a = max(0, int((e.start - start).total_seconds() // 60))
            b = min(n, a + e.minutes)
            if a >= b:
                continue
            if e.kind == "outage":
                outages.append((a, b))
                continue
            if e.kind == "shutdown":
                self.running[a:b] = False
                for j, p in enumerate(params):
                    if p == "o2":
                        avg[a:b, j] = rng.uniform(*_SHUTDOWN_O2_PCT, b - a)
                    elif p in _FLOWS:
                        avg[a:b, j] *= _SHUTDOWN_FLOW_SHARE
                    elif p not in ("ph", "flue_temp", "flue_pressure", "flue_humidity"):
                        avg[a:b, j] *= _SHUTDOWN_CONC_SHARE
                continue
            if e.parameter not in params:
                raise ValueError(
                    f"episode on {site_id}: {e.parameter!r} is not measured there ({params})"
                )
            j = params.index(e.parameter)
            if e.kind == "stuck":
                avg[a:b, j] = avg[a, j]
            elif e.kind == "hourly_mismatch":
                self.mismatch.append((a, b, j, e.factor))
            else:
                if j not in limits:
                    raise ValueError(f"episode on {site_id}: {e.parameter} has no permit limit")
                value, on_o2 = limits[j]
                target = np.full(b - a, value * e.factor)
                if on_o2:
                    target = target / zs_factor(o2[a:b], ref_o2)
                avg[a:b, j] = target
        spread = np.abs(rng.normal(0, 0.04, (n, k)))
        self.avg = avg
        self.min = avg * (1 - spread)
        self.max = avg * (1 + np.abs(rng.normal(0, 0.04, (n, k))))
        for j in range(k):  # a stuck instrument reports the same number for min, mean and max
            same = np.r_[False, np.diff(avg[:, j]) == 0]
            self.min[same, j] = avg[same, j]
            self.max[same, j] = avg[same, j]
        self.flags = flags
        self.o2_col = o2_col
        self.o2 = o2
        self.ref_o2 = ref_o2
        self.zs = None
        if ref_o2 is not None:
            self.zs = avg * zs_factor(o2, ref_o2)[:, None]
        self.present = rng.random(n) >= opts.gap_rate  # minutes the instruments produced at all
        for a, b in outages:
            self.present[a:b] = False


class _Periods:
    """The logger's own minute data: one row per minute-data interval (Min/Avg/Max over the
    interval's minutes that the instruments produced; the commonest flag)."""

    def __init__(self, v: _Values, m: int):
        n = v.avg.shape[0] // m  # whole intervals only
        k = v.avg.shape[1]
        self.n = n
        if m == 1:
            self.avg, self.min, self.max = v.avg[:n], v.min[:n], v.max[:n]
            self.flags, self.present, self.running = v.flags[:n], v.present[:n], v.running[:n]
        else:
            present = v.present[: n * m].reshape(n, m)
            self.present = present.any(axis=1)
            w = present[:, :, None]
            count = np.maximum(present.sum(axis=1), 1)[:, None]
            self.avg = np.where(w, v.avg[: n * m].reshape(n, m, k), 0.0).sum(axis=1) / count
            self.min = np.where(w, v.min[: n * m].reshape(n, m, k), np.inf).min(axis=1)
            self.max = np.where(w, v.max[: n * m].reshape(n, m, k), -np.inf).max(axis=1)
            self.min[~self.present] = 0.0
            self.max[~self.present] = 0.0
            flags = v.flags[: n * m].reshape(n, m, k)
            self.flags = np.empty((n, k), dtype="<U1")
            for i in range(n):
                for j in range(k):
                    vals = flags[i, present[i], j] if self.present[i] else flags[i, :, j]
                    f, c = np.unique(vals, return_counts=True)
                    self.flags[i, j] = f[c.argmax()]
            self.running = v.running[: n * m].reshape(n, m).mean(axis=1) >= 0.5
        self.zs = None
        if v.ref_o2 is not None:
            o2 = (
                self.avg[:, v.o2_col]
                if v.o2_col is not None
                else v.o2[: n * m].reshape(n, m).mean(axis=1)
            )
            self.zs = self.avg * zs_factor(o2, v.ref_o2)[:, None]


def _limit(
    registry: Registry, site_id: str, outlet: Outlet, parameter: str
) -> tuple[float, bool] | None:
    """The outlet's permit limit for a parameter, in the site's unit, and whether it is O2-corrected."""
    for lim in outlet.permit_limits:
        if lim.parameter != parameter:
            continue
        unit = registry.site_unit(site_id, parameter)
        value = lim.limit
        if lim.unit != unit:
            if not registry.convertible(lim.unit, unit):
                return None
            value *= registry.conversion_factor(lim.unit, unit)
        return value, lim.statistic.endswith("_o2")
    return None


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


class SimLogger:
    """One outlet's data logger."""

    def __init__(self, registry: Registry, site_id: str, start: datetime, end: datetime, opts: LoggerSimOptions,
                 index: int):  # fmt: skip
        _, outlet = registry.outlets[site_id]
        self.site_id = site_id
        self.outlet = outlet
        self.mn = outlet.logger.mn
        self.pw = outlet.logger.password
        self.version = (
            VERSION_2005 if outlet.logger.protocol_edition == "HJ212-2005" else VERSION_2017
        )
        self.st = "31" if outlet.outlet_type == "flue_gas" else "32"
        self.opts = opts
        habits = opts.habits.get(site_id) or registry_habits(outlet)
        if opts.minute_interval_s is not None or opts.hour_label is not None:
            habits = LoggerHabits(opts.minute_interval_s or habits.minute_interval_s,
                                  opts.hour_label or habits.hour_label)  # fmt: skip
        self.habits = habits
        self.interval_s = habits.minute_interval_s
        self.end_label = habits.hour_label == "end"
        self.start = start
        self.minutes = max(0, int((end - start).total_seconds() // 60))
        self.rng = np.random.default_rng([opts.seed, index])
        self.values = _Values(registry, site_id, outlet, start, self.minutes, opts, self.rng)
        self.periods = _Periods(self.values, self.interval_s // INTERVAL_MINUTE_S)
        self.days = self._plan_days()
        self.channels: list[_Channel | None] = []
        for p in self.values.params:
            info = registry.parameters.get(p)
            code = (
                (info.hj212_2005_code if self.version == VERSION_2005 else info.hj212_2017_code)
                if info
                else None
            )
            mapping = map_code(code, self.st) if code else None
            if mapping is None or mapping.info is None:
                self.channels.append(None)  # the logger has no code for it: not sent
                continue
            site_unit = registry.site_unit(site_id, p)
            factor = 1.0
            if mapping.info.unit != site_unit and registry.convertible(
                site_unit, mapping.info.unit
            ):
                factor = registry.conversion_factor(site_unit, mapping.info.unit)
            extra = (
                round(-math.log10(factor)) if factor < 1 else 0
            )  # keep the precision in smaller units
            decimals = min(6, max(1, (info.decimals if info else 0) or 0) + extra)
            self.channels.append(_Channel(p, code, factor, decimals))
        self.outages = self._plan_outages()
        self.drift = timedelta(seconds=opts.clock_drift_s)
        self.report = SimReport(loggers=1)
        self._inflight: dict[str, list] = {}  # QN -> [raw, sent_at, tries]
        self._space = asyncio.Event()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self._lost = False  # the server closed or reset the connection
        self._address: tuple[str, int] | None = None
        self._down_since: float | None = None  # no answered connection since (None: answered)
        self._delay = opts.reconnect_delay_s[0]
        self._last_traffic = time.monotonic()
        self._sim_now = start

    # -- the plan -------------------------------------------------------------------------
    def _plan_outages(self) -> list[tuple[int, int]]:
        """Link outages as (first minute offline, first minute back), none in the last 70 minutes
        so that the data they hide can still be asked for before the run ends."""
        out = []
        hours = self.minutes // 60
        for h in np.flatnonzero(self.rng.random(hours) < self.opts.outage_rate):
            a = int(h) * 60 + int(self.rng.integers(1, 50))
            b = a + int(self.rng.integers(3, 31))
            if b + 70 <= self.minutes and (not out or a > out[-1][1]):
                out.append((a, b))
        return out

    def _plan_days(self) -> list[int]:
        """First minutes of the whole local days of the run (the 2031 daily values)."""
        if not self.opts.daily:
            return []
        local = self.start.astimezone(DEFAULT_TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if midnight < local:
            midnight += timedelta(days=1)
        out = []
        while True:
            first = int((midnight.astimezone(UTC) - self.start).total_seconds() // 60)
            nxt = (midnight + timedelta(days=1)).astimezone(UTC)
            if (nxt - self.start).total_seconds() // 60 > self.periods.n * self.interval_s // 60:
                return out
            out.append(first)
            midnight = (midnight + timedelta(days=1)).replace(hour=0)

    def _hour_rows(self, h: int) -> np.ndarray:
        """The logger's present minute-data periods that start in hour h."""
        per_hour = INTERVAL_HOUR_S // self.interval_s
        rows = np.arange(h * per_hour, min((h + 1) * per_hour, self.periods.n))
        return rows[self.periods.present[rows]]

    def _day_rows(self, d: int) -> np.ndarray:
        m = self.interval_s // INTERVAL_MINUTE_S
        first = self.days[d] // m
        rows = np.arange(first, min(first + INTERVAL_DAY_S // self.interval_s, self.periods.n))
        return rows[self.periods.present[rows]]

    def _hours(self) -> int:
        return self.periods.n * self.interval_s // INTERVAL_HOUR_S

    def expected_readings(self) -> int:
        """Distinct readings the run generates (minute, hour, day, real-time)."""
        sent = sum(1 for c in self.channels if c is not None)
        total = int(self.periods.present.sum()) * sent
        if self.opts.hourly:
            total += sum(sent for h in range(self._hours()) if len(self._hour_rows(h)))
        total += sum(sent for d in range(len(self.days)) if len(self._day_rows(d)))
        if self.opts.realtime_s:
            total += len(self._realtime_times()) * sent
        return total

    def _realtime_times(self) -> list[int]:
        step = self.opts.realtime_s
        return [s for s in range(0, self.minutes * 60, step) if self.values.present[s // 60]]

    # -- packets --------------------------------------------------------------------------
    def _flag(self, ack: bool) -> int:
        return (self.version << 2) | (1 if ack else 0)

    def _packet(self, cn: str, qn: str, datatime: datetime, groups: list[str], ack: bool) -> bytes:
        body = ";".join([f"DataTime={format_time(datatime)}", *groups])
        segment = f"QN={qn};ST={self.st};CN={cn};PW={self.pw};MN={self.mn};Flag={self._flag(ack)};CP=&&{body}&&"
        return frame(segment.encode())

    def _qn(self, at: datetime, slot: int) -> str:
        return format_time(at + timedelta(milliseconds=slot), millis=True)

    def _label(self, first_s: int, length_s: int) -> datetime:
        """DataTime of the period [first_s, first_s + length_s) seconds after the start."""
        return self.start + timedelta(seconds=first_s + (length_s if self.end_label else 0))

    def minute_packet(self, i: int, qn: str | None = None, ack: bool = True) -> tuple[bytes, int]:
        """Minute data (2051) of the logger's i-th interval."""
        v = self.periods
        step = self.interval_s
        groups = []
        for j, ch in enumerate(self.channels):
            if ch is None:
                continue
            f, d = ch.factor, ch.decimals
            items = [f"{ch.code}-Min={_fmt(v.min[i, j] * f, d)}", f"{ch.code}-Avg={_fmt(v.avg[i, j] * f, d)}",
                     f"{ch.code}-Max={_fmt(v.max[i, j] * f, d)}"]  # fmt: skip
            if v.zs is not None and ch.parameter in _ZS_PARAMETERS and not np.isnan(v.zs[i, j]):
                items.append(f"{ch.code}-ZsAvg={_fmt(v.zs[i, j] * f, d)}")
            if ch.parameter in _FLOWS:  # amount over the interval, in m3
                per_s = v.avg[i, j] * f * (1e-3 if ch.parameter == "ww_flow" else 1.0)
                items.append(f"{ch.code}-Cou={_fmt(per_s * step, 2)}")
            items.append(f"{ch.code}-Flag={v.flags[i, j]}")
            groups.append(",".join(items))
        at = self._label(i * step, step)
        qn = qn or self._qn(self.start + timedelta(seconds=(i + 1) * step), 0)
        return self._packet(builders.CN_MINUTE, qn, at, groups, ack), len(groups)

    def _summary_groups(self, rows: np.ndarray, mismatch: dict[int, float]) -> list[str]:
        """Min/Avg/Max (ZsAvg, flow Cou) over the logger's own minute data `rows`."""
        v = self.periods
        o2 = None
        if v.zs is not None:
            o2_col = self.values.o2_col
            o2 = float(v.avg[rows, o2_col].mean()) if o2_col is not None else float(
                self.values.o2[rows].mean())  # fmt: skip
        groups = []
        for j, ch in enumerate(self.channels):
            if ch is None:
                continue
            f, d = ch.factor * mismatch.get(j, 1.0), ch.decimals
            mean = float(v.avg[rows, j].mean())
            items = [f"{ch.code}-Min={_fmt(v.min[rows, j].min() * f, d)}",
                     f"{ch.code}-Avg={_fmt(mean * f, d)}",
                     f"{ch.code}-Max={_fmt(v.max[rows, j].max() * f, d)}"]  # fmt: skip
            if o2 is not None and ch.parameter in _ZS_PARAMETERS:
                zs = o2_corrected(mean, o2, self.values.ref_o2)
                if zs is not None:
                    items.append(f"{ch.code}-ZsAvg={_fmt(zs * f, d)}")
            if ch.parameter in _FLOWS:
                per_s = (
                    v.avg[rows, j].sum() * ch.factor * (1e-3 if ch.parameter == "ww_flow" else 1.0)
                )
                items.append(f"{ch.code}-Cou={_fmt(per_s * self.interval_s, 2)}")
            flags, counts = np.unique(v.flags[rows, j], return_counts=True)
            items.append(
                f"{ch.code}-Flag={flags[counts.argmax()]}"
            )  # simplification: the commonest minute flag
            groups.append(",".join(items))
        return groups

    def _mismatch(self, first_min: int, end_min: int) -> dict[int, float]:
        """Columns whose summary values the logger falsifies in [first_min, end_min)."""
        return {
            j: factor for a, b, j, factor in self.values.mismatch if a < end_min and first_min < b
        }

    def hour_packet(
        self, h: int, qn: str | None = None, ack: bool = True
    ) -> tuple[bytes, int] | None:
        rows = self._hour_rows(h)
        if len(rows) == 0:
            return None
        groups = self._summary_groups(rows, self._mismatch(h * 60, h * 60 + 60))
        at = self._label(h * INTERVAL_HOUR_S, INTERVAL_HOUR_S)
        qn = qn or self._qn(self.start + timedelta(hours=h + 1), 1)
        return self._packet(builders.CN_HOUR, qn, at, groups, ack), len(groups)

    def day_packet(
        self, d: int, qn: str | None = None, ack: bool = True
    ) -> tuple[bytes, int] | None:
        rows = self._day_rows(d)
        if len(rows) == 0:
            return None
        first = self.days[d]
        groups = self._summary_groups(rows, {})
        at = self._label(first * 60, INTERVAL_DAY_S)
        qn = qn or self._qn(self.start + timedelta(minutes=first, days=1), 4)
        return self._packet(builders.CN_DAY, qn, at, groups, ack), len(groups)

    def status_packet(self, s: int, qn: str | None = None) -> bytes:
        """Running status (2021) of the pollution-treatment facility SB1 over
        [s, s + running_status_s), sent at its end. DataTime is the time the status holds from (a
        status is a state, not a statistic over a period: no start/end label; the parsers take
        2021 DataTime as it is)."""
        step = self.opts.running_status_s
        minutes = self.values.running[s // 60 : (s + step) // 60]
        rs = (
            1 if len(minutes) == 0 or minutes.mean() >= 0.5 else 0
        )  # HJ 212-2017: 0 stopped, 1 running
        at = self.start + timedelta(seconds=s)
        qn = qn or self._qn(self.start + timedelta(seconds=s + step), 3)
        return self._packet(builders.CN_STATUS, qn, at, [f"SB1-RS={rs}"], True)

    def realtime_packet(self, s: int, qn: str | None = None) -> tuple[bytes, int]:
        i = s // 60
        v = self.values
        groups = []
        for j, ch in enumerate(self.channels):
            if ch is not None:
                value = v.avg[i, j] * ch.factor * (1 + 0.01 * math.sin(s))
                groups.append(
                    f"{ch.code}-Rtd={_fmt(value, ch.decimals)},{ch.code}-Flag={v.flags[i, j]}"
                )
        at = self.start + timedelta(seconds=s)
        return self._packet(builders.CN_REALTIME, qn or self._qn(at, 2), at, groups, True), len(
            groups
        )

    def _schedule(self) -> Iterator[tuple[float, str, int]]:
        """(due second from start, kind, index) in time order."""
        rt = iter(self._realtime_times()) if self.opts.realtime_s else iter(())
        next_rt = next(rt, None)
        step = self.interval_s
        status = self.opts.running_status_s
        day_ends = {(first + 24 * 60) * 60: d for d, first in enumerate(self.days)}
        for i in range(self.periods.n):
            for second in range(i * step + 60, (i + 1) * step + 60, 60):  # the minutes, in order
                while next_rt is not None and next_rt < second:
                    yield next_rt, "rt", next_rt
                    next_rt = next(rt, None)
                if status and second % status == 0:
                    yield second, "status", second - status
            due = (i + 1) * step
            if self.periods.present[i]:
                yield due, "min", i
            if self.opts.hourly and due % INTERVAL_HOUR_S == 0:
                yield due, "hour", due // INTERVAL_HOUR_S - 1
            if due in day_ends:
                yield due, "day", day_ends[due]

    # -- the connection -------------------------------------------------------------------
    async def run(self, host: str, port: int, t0: float) -> SimReport:
        opts = self.opts
        self._address = (host, port)
        outage_iter = iter(self.outages)
        outage = next(outage_iter, None)
        try:
            for due_s, kind, idx in self._schedule():
                self._sim_now = self.start + timedelta(seconds=due_s)
                if opts.speedup > 0:
                    delay = t0 + due_s / opts.speedup - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                minute = due_s // 60 - 1 if kind != "rt" else idx // 60
                while outage is not None and minute >= outage[1]:
                    outage = next(outage_iter, None)
                if outage is not None and outage[0] <= minute < outage[1]:
                    if self._writer is not None:
                        self.report.outages += 1
                        await self._disconnect()
                    continue  # measured and stored, not sent
                await self._ensure_connected()
                if kind == "status":
                    await self._send_data(self.status_packet(idx), 0, status=True)
                    continue
                built = (self.minute_packet(idx) if kind == "min" else self.hour_packet(idx) if kind == "hour"
                         else self.day_packet(idx) if kind == "day" else self.realtime_packet(idx))  # fmt: skip
                if built is None:
                    continue
                raw, n = built
                await self._send_data(raw, n)
            await self._finish()
        finally:
            await self._disconnect()
        return self.report

    async def _ensure_connected(self) -> None:
        """Connected, or connect (again) with a bounded backoff; each attempt is logged.

        The budget (`reconnect_max_s`) and the backoff run from the moment the link was lost until
        the server answers again: a server that accepts and closes at once (a peer limit, a crash
        loop) costs the budget like a refused connection, instead of a reconnect storm."""
        if self._writer is not None and not self._lost:
            return
        reconnecting = self._lost
        if reconnecting:
            log.warning("logger %s (%s): connection to the server lost, %d packet(s) unanswered; reconnecting",
                        self.mn, self.site_id, len(self._inflight))  # fmt: skip
            await self._disconnect()
        assert self._address is not None
        host, port = self._address
        first_delay = self.opts.reconnect_delay_s[0]
        if self._down_since is None:
            self._down_since, self._delay = time.monotonic(), first_delay
        elif (
            reconnecting
        ):  # the last connection ended before any answer: back off before trying again
            await self._back_off(host, port, "closed by the server before any answer")
        attempt = 0
        while True:
            attempt += 1
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
                break
            except (OSError, TimeoutError) as exc:
                self.report.connect_failures += 1
                log.warning("logger %s: connecting to %s:%d failed (attempt %d: %s)",
                            self.mn, host, port, attempt, exc or type(exc).__name__)  # fmt: skip
                await self._back_off(host, port, str(exc or type(exc).__name__), attempt)
        if reconnecting:
            self.report.reconnects += 1
            log.warning("logger %s: reconnected to %s:%d after %d attempt(s); sending %d unanswered packet(s) again",
                        self.mn, host, port, attempt, len(self._inflight))  # fmt: skip
        self._writer, self._lost = writer, False
        self.report.connects += 1
        self._reader_task = asyncio.create_task(self._read(reader))
        for entry in self._inflight.values():  # unanswered before the link went down: send again
            entry[1] = time.monotonic()
            writer.write(entry[0])
            self.report.resends += 1

    async def _back_off(self, host: str, port: int, why: str, attempt: int = 0) -> None:
        """Sleep the next backoff delay, or give up with an error when it would exceed the budget."""
        assert self._down_since is not None
        waited = time.monotonic() - self._down_since
        if waited + self._delay > self.opts.reconnect_max_s:
            raise SimulatorConnectionError(
                f"logger {self.mn} ({self.site_id}): no connection to {host}:{port} after {attempt} "
                f"attempt(s) over {waited:.1f} s ({why}); {len(self._inflight)} packet(s) unanswered"
            )
        log.warning("logger %s: next attempt in %.1f s", self.mn, self._delay)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self.opts.reconnect_delay_s[1])

    async def _disconnect(self) -> None:
        writer, self._writer = self._writer, None
        task, self._reader_task = self._reader_task, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 2)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def _write(self, raw: bytes) -> None:
        if self._writer is not None and not self._lost and not self._writer.is_closing():
            self._writer.write(raw)

    async def _send_data(self, raw: bytes, readings: int, status: bool = False) -> None:
        while len(self._inflight) >= self.opts.window:
            await self._ensure_connected()
            self._space.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._space.wait(), self.opts.ack_timeout_s / 2)
            self._check_resends()
        await self._ensure_connected()
        if self.opts.corrupt_rate and self.rng.random() < self.opts.corrupt_rate:
            bad = raw[:-6] + f"{(int(raw[-6:-2], 16) ^ 0x5A5A):04X}".encode() + b"\r\n"
            self._write(bad)
            self.report.corrupt += 1
        qn = raw[raw.index(b"QN=") + 3 : raw.index(b";", 6)].decode()
        self._inflight[qn] = [raw, time.monotonic(), 0]
        self._write(raw)
        if status:
            self.report.status_packets += 1
        else:
            self.report.packets += 1
            self.report.readings += readings
        if self._writer is not None and self._writer.transport.get_write_buffer_size() > 1 << 16:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    def _check_resends(self) -> None:
        if self._lost or self._writer is None:
            return  # sent again when the connection is back; no retry is spent on a dead link
        now = time.monotonic()
        for qn, entry in list(self._inflight.items()):
            if now - entry[1] >= self.opts.ack_timeout_s:
                if entry[2] >= self.opts.retries:
                    del self._inflight[qn]
                    self.report.unacknowledged += 1
                    log.warning("logger %s: packet QN=%s unanswered after %d resends, given up",
                                self.mn, qn, entry[2])  # fmt: skip
                    continue
                entry[1], entry[2] = now, entry[2] + 1
                self._write(entry[0])
                self.report.resends += 1

    async def _finish(self) -> None:
        """Wait for the answers still owed (reconnecting when the server went away), then for the
        server's requests to stop."""
        deadline = time.monotonic() + self.opts.ack_timeout_s * (self.opts.retries + 1)
        while self._inflight and time.monotonic() < deadline:
            if self._lost or self._writer is None:
                await self._ensure_connected()
                deadline = time.monotonic() + self.opts.ack_timeout_s * (self.opts.retries + 1)
            self._space.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._space.wait(), 0.2)
            self._check_resends()
        while (
            time.monotonic() - self._last_traffic < self.opts.linger_s
            and self._writer is not None
            and not self._lost
        ):
            await asyncio.sleep(0.1)
        self.report.unacknowledged += len(self._inflight)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        framer = StreamFramer()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                self._last_traffic = time.monotonic()
                for record in framer.feed(data):
                    result = try_parse(record, max_future=None)
                    if result.ok and result.packet is not None:
                        await self._on_packet(result.packet)
        except (ConnectionError, OSError):
            return
        finally:
            if self._writer is not None:  # not our own disconnect: the server went away
                self._lost = True
                self._space.set()

    async def _on_packet(self, p) -> None:  # type: ignore[no-untyped-def]
        if p.cn == builders.CN_DATA_ANSWER:
            self._down_since = None  # the server answers: the link is back, the backoff starts over
            if self._inflight.pop(p.qn or "", None) is not None:
                self.report.acks += 1
                self._space.set()
            return
        if p.mn != self.mn:
            return
        if p.cn == builders.CN_GET_TIME:
            self._write(builders.request_answer(p, builders.QN_READY))
            now = self._sim_now + self.drift
            self._write(builders.command(builders.CN_GET_TIME, self.mn, self.pw, self.st,
                                         [("SystemTime", format_time(now))], qn=p.qn, ack=False))  # fmt: skip
            self._write(builders.execution_result(p, builders.EXE_SUCCESS))
            self.report.clock_reads += 1
        elif p.cn == builders.CN_SET_TIME:
            self._write(builders.request_answer(p, builders.QN_READY))
            text = p.get("SystemTime")
            try:
                self.drift = parse_time(text or "") - self._sim_now
                exe = builders.EXE_SUCCESS
            except ValueError:
                exe = builders.EXE_FAILED
            self._write(builders.execution_result(p, exe))
            self.report.clock_sets += 1
        elif p.cn in (builders.CN_MINUTE, builders.CN_HOUR, builders.CN_DAY):
            await self._history(p)
        elif p.ack_requested:
            self._write(builders.request_answer(p, builders.QN_REJECTED))

    def _labelled_in(self, begin: datetime, end: datetime, step_s: int, count: int) -> range:
        """Indices of the periods of `step_s` whose DataTime lies in [begin, end]."""
        offset = step_s if self.end_label else 0
        b = (begin - self.start).total_seconds() - offset
        e = (end - self.start).total_seconds() - offset
        return range(max(0, math.ceil(b / step_s)), min(count - 1, math.floor(e / step_s)) + 1)

    async def _history(self, p) -> None:  # type: ignore[no-untyped-def]
        self.report.history_requests += 1
        self._write(builders.request_answer(p, builders.QN_READY))
        try:
            begin = parse_time(p.get("BeginTime") or "")
            end = parse_time(p.get("EndTime") or "")
        except ValueError:
            self._write(builders.execution_result(p, builders.EXE_FAILED))
            return
        sent = 0
        if p.cn == builders.CN_MINUTE:
            step = self.interval_s
            for i in self._labelled_in(begin, end, step, self.periods.n):
                if (
                    self.periods.present[i]
                    and self.start + timedelta(seconds=(i + 1) * step) <= self._sim_now
                ):
                    self._write(self.minute_packet(i, qn=p.qn, ack=False)[0])
                    sent += 1
        elif p.cn == builders.CN_HOUR and self.opts.hourly:
            for h in self._labelled_in(begin, end, INTERVAL_HOUR_S, self._hours()):
                if self.start + timedelta(hours=h + 1) <= self._sim_now:
                    built = self.hour_packet(h, qn=p.qn, ack=False)
                    if built is not None:
                        self._write(built[0])
                        sent += 1
        elif p.cn == builders.CN_DAY:
            for d, first in enumerate(self.days):
                at = self._label(first * 60, INTERVAL_DAY_S)
                if (
                    begin <= at <= end
                    and self.start + timedelta(minutes=first, days=1) <= self._sim_now
                ):
                    built = self.day_packet(d, qn=p.qn, ack=False)
                    if built is not None:
                        self._write(built[0])
                        sent += 1
        self.report.history_packets += sent
        if self._writer is not None and not self._lost:
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()
        self._write(
            builders.execution_result(p, builders.EXE_SUCCESS if sent else builders.EXE_NO_DATA)
        )


class LoggerSimulator:
    """All loggers of the registry's outlets (or a chosen few), run concurrently."""

    def __init__(self, registry: Registry, start: datetime, end: datetime, opts: LoggerSimOptions | None = None,
                 outlets: list[str] | None = None):  # fmt: skip
        self.opts = opts or LoggerSimOptions()
        start = start.astimezone(UTC).replace(
            minute=0, second=0, microsecond=0
        )  # hours on clock hours
        chosen = sorted(registry.outlets) if outlets is None else outlets
        unknown = [s for s in chosen if s not in registry.outlets]
        if unknown:
            raise ValueError(
                f"unknown outlet(s) {', '.join(unknown)}; valid: {', '.join(sorted(registry.outlets))}"
            )
        self.loggers = [
            SimLogger(registry, s, start, end, self.opts, i) for i, s in enumerate(chosen)
        ]

    def expected_readings(self) -> int:
        return sum(lg.expected_readings() for lg in self.loggers)

    async def run(self, host: str, port: int) -> SimReport:
        t0 = time.monotonic()
        reports = await asyncio.gather(*(lg.run(host, port, t0) for lg in self.loggers))
        total = SimReport()
        for r in reports:
            total.add(r)
        for lg in self.loggers:
            total.flags.update(lg.periods.flags[lg.periods.present].ravel().tolist())
        total.expected_readings = self.expected_readings()
        total.seconds = time.monotonic() - t0
        return total


# --- a synthetic registry for load tests --------------------------------------------------------


def write_synthetic_registry(
    base_config: Path, dest: Path, loggers: int, *, prefix: str = "simlog"
) -> Path:
    """Copy a config folder and replace its enterprises with `loggers` generated flue-gas and
    waste-water outlets (alternating), each with its own MN and password. Returns dest."""
    import shutil

    shutil.copytree(base_config, dest, dirs_exist_ok=True)
    ents_path = dest / "registry" / "enterprises.yaml"
    base = yaml.safe_load(ents_path.read_text(encoding="utf-8"))["enterprises"]
    flue = next(o for e in base for o in e["outlets"] if o["outlet_type"] == "flue_gas")
    water = next(o for e in base for o in e["outlets"] if o["outlet_type"] == "waste_water")
    template = base[0]
    enterprises = []
    for i in range(loggers):
        outlet = dict(flue if i % 2 == 0 else water)
        outlet["site_id"] = f"{prefix}_{i:04d}_o1"
        outlet["logger"] = {"mn": f"SIM{i:05d}{crc16(str(i).encode()):04X}", "password": f"{(i * 7919) % 1000000:06d}",
                            "protocol_edition": "HJ212-2017"}  # fmt: skip
        outlet["permitted_quantities"] = []
        ent = {k: v for k, v in template.items() if k != "outlets"}
        ent.update({"enterprise_id": f"{prefix}_{i:04d}", "credit_code": None, "outlets": [outlet],
                    "name_en": f"Simulated enterprise {i}", "name_zh": f"模拟企业{i}"})  # fmt: skip
        enterprises.append(ent)
    replace_enterprises(dest, enterprises)
    return dest


def replace_enterprises(config: Path, enterprises: list[dict]) -> None:
    """Write `enterprises` as the registry of config folder `config`, and drop its stations
    that belong to an enterprise no longer there (an enterprise's boundary-noise points)."""
    reg = config / "registry"
    (reg / "enterprises.yaml").write_text(
        yaml.safe_dump({"enterprises": enterprises}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    kept = {e["enterprise_id"] for e in enterprises}
    stations_path = reg / "stations.yaml"
    doc = yaml.safe_load(stations_path.read_text(encoding="utf-8"))
    stations = [s for s in doc["stations"] if s.get("enterprise_id") in (None, *kept)]
    if len(stations) != len(doc["stations"]):
        doc["stations"] = stations
        stations_path.write_text(
            yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
