"""Station simulator: realistic messages for the demo network, in the MQTT payload contract.

One message per site and period (a station-hour for air and noise, four hours for water)
carrying every parameter of the site. The value model follows sim/generator.py: diurnal
cycles for PM2.5/NO2/O3, noise higher by day than by night, plus slow random-walk drifts for
water quality, occasional exceedances (a pollution episode multiplies a value), sensor faults
(flag D with a stuck value) and gaps (a parameter or a whole message missing).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from core.registry.config import Registry
from core.registry.models import DEFAULT_NOISE_STANDARD
from ingest.mqtt.topics import station_topic
from sim.generator import TYPICAL


@dataclass(frozen=True)
class SimMessage:
    topic: str
    payload: bytes
    period_start: datetime
    readings: int


@dataclass(frozen=True)
class SimOptions:
    seed: int = 0
    gap_rate: float = 0.01  # share of messages not sent, and of values left out
    fault_rate: float = 0.003  # share of values flagged D (sensor fault)
    exceedance_rate: float = 0.01  # share of site-hours in a pollution episode
    kinds: tuple[str, ...] = ("air", "water", "noise")


def _shape(parameter: str, local_hour: float, by_day: bool) -> float:
    """Shape in [-1, 1]; `by_day`: the hour is in the ambient noise standard's day."""
    if parameter == "o3":
        return math.cos((local_hour - 15.0) / 24.0 * 2 * math.pi)
    if parameter in ("leq", "lmax"):
        return 1.0 if by_day else -1.0
    if parameter in ("pm25", "pm10", "no2", "co"):  # morning and evening rush, night inversion
        return 0.6 * math.cos((local_hour - 8.0) / 12.0 * 2 * math.pi) + 0.4 * math.cos(
            (local_hour - 21) / 24 * 2 * math.pi
        )
    return 0.0


# Where a healthy site sits against its own standard: water at this share of its target class's
# limit (DO this much above its minimum); noise this many dB(A) under its zone's limits, with
# maxima this many above the Leq. Demo choices, not limits.
WATER_SHARE_OF_LIMIT = 0.6
WATER_DO_OVER_MINIMUM = 1.25
NOISE_MARGIN_DBA = 3.0
NOISE_LMAX_OVER_LEQ_DBA = 10.0


def _site_levels(
    registry: Registry, kinds: tuple[str, ...]
) -> dict[tuple[str, str], tuple[float, float]]:
    """(day, night) typical level per water section / noise point and parameter, from the
    section's GB 3838 target class and the point's zone limits under its own standard (GB 3096
    ambient, GB 12348 boundary: indoors 10 dB(A) lower)."""
    from transforms.standards.noise import zone_limits
    from transforms.standards.water import ALL_CLASSES, limits

    out: dict[tuple[str, str], tuple[float, float]] = {}
    for site_id, st in registry.stations.items():
        params = [m.parameter for m in st.parameters]
        if st.kind == "water" and "water" in kinds and st.water_target_class and st.waterbody:
            k = ALL_CLASSES.index(st.water_target_class)
            for p, lim in limits(st.waterbody).items():
                cell = lim.limits[k]
                if p not in params or not isinstance(cell, float):
                    continue
                level = cell * (
                    WATER_DO_OVER_MINIMUM if lim.direction == "min" else WATER_SHARE_OF_LIMIT
                )
                out[site_id, p] = (level, level)
        elif st.kind == "noise" and "noise" in kinds and st.noise_zone:
            standard = st.noise_standard or DEFAULT_NOISE_STANDARD
            day, night = zone_limits(st.noise_zone, standard, st.noise_indoor)
            out[site_id, "leq"] = (day - NOISE_MARGIN_DBA, night - NOISE_MARGIN_DBA)
            out[site_id, "lmax"] = (
                day - NOISE_MARGIN_DBA + NOISE_LMAX_OVER_LEQ_DBA,
                night - NOISE_MARGIN_DBA + NOISE_LMAX_OVER_LEQ_DBA,
            )
    return out


def _iso_local(ts: datetime, tz: ZoneInfo) -> str:
    return ts.astimezone(tz).isoformat()


class StationSimulator:
    """Generates the messages of every station of the registry over a time range."""

    def __init__(self, registry: Registry, options: SimOptions | None = None):
        self.registry = registry
        self.options = options or SimOptions()
        self.rng = np.random.default_rng(self.options.seed)
        self._drift: dict[tuple[str, str], float] = {}
        self._stuck: dict[tuple[str, str], float] = {}
        self.groups: list[
            tuple[str, str, int, list[str], ZoneInfo]
        ] = []  # site, kind, interval, params, tz
        for site_id in sorted(registry.stations):
            st = registry.stations[site_id]
            if st.kind not in self.options.kinds:
                continue
            by_interval: dict[int, list[str]] = {}
            for m in st.parameters:
                if m.interval_s > 0:
                    by_interval.setdefault(m.interval_s, []).append(m.parameter)
            for interval, params in sorted(by_interval.items()):
                self.groups.append(
                    (site_id, st.kind, interval, params, ZoneInfo(registry.site_timezone(site_id)))
                )
        self._levels = _site_levels(registry, self.options.kinds)
        from transforms.standards.noise import day_night_hours

        self._day_night = day_night_hours()  # the noise standard's day: [start, night start)

    def _value(
        self, site_id: str, kind: str, param: str, local_hour: float, episode: float
    ) -> float:
        level, amp = TYPICAL.get(param, (10.0, 0.2))
        day_start, night_start = self._day_night
        by_day = day_start <= local_hour < night_start
        own = self._levels.get((site_id, param))
        if own is not None:  # a level that fits the site: its water class, its noise zone
            day_level, night_level = own
            level = day_level if by_day else night_level
            amp = amp if kind == "water" else 0.0
        v = level * (1 + amp * _shape(param, local_hour, by_day))
        if kind == "water":  # slow drift: a bounded random walk per section and parameter
            key = (site_id, param)
            d = self._drift.get(key, 0.0) * 0.98 + float(self.rng.normal(0, 0.02))
            self._drift[key] = d
            v *= 1 + d
        elif kind == "noise":  # levels vary by a decibel or so, not by a share of themselves
            v += float(self.rng.normal(0, 1.0))
        else:
            v *= 1 + float(self.rng.normal(0, 0.08))
        if kind == "air":
            v *= episode
        decimals = self.registry.parameters[param].decimals or 0
        return round(max(v, 0.0), max(decimals, 1))

    def messages(self, start: datetime, end: datetime) -> Iterator[SimMessage]:
        """Messages for every period start in [start, end), in time order."""
        opt = self.options
        rng = self.rng
        step = min(g[2] for g in self.groups) if self.groups else 3600
        t = datetime.fromtimestamp(math.ceil(start.timestamp() / step) * step, UTC)
        episodes: dict[str, float] = {}
        while t < end:
            epoch = int(t.timestamp())
            for site_id, kind, interval, params, tz in self.groups:
                if epoch % interval:
                    continue
                # Episodes persist for hours: start with exceedance_rate, end with 1/6 chance.
                ep = episodes.get(site_id, 1.0)
                if ep > 1.0 and rng.random() < 1 / 6:
                    ep = 1.0
                elif ep == 1.0 and rng.random() < opt.exceedance_rate:
                    ep = float(rng.uniform(2.5, 5.0))
                episodes[site_id] = ep
                if rng.random() < opt.gap_rate:
                    continue  # the whole message is missing
                local_hour = t.astimezone(tz).hour + t.astimezone(tz).minute / 60
                values: dict[str, object] = {}
                for p in params:
                    if rng.random() < opt.gap_rate:
                        continue
                    key = (site_id, p)
                    if key in self._stuck or rng.random() < opt.fault_rate:
                        # a fault: the analyser repeats its last value, flagged D, for a few periods
                        stuck = self._stuck.setdefault(
                            key, self._value(site_id, kind, p, local_hour, 1.0)
                        )
                        if rng.random() < 0.3:
                            del self._stuck[key]
                        values[p] = {"value": stuck, "flag": "D"}
                    else:
                        values[p] = {
                            "value": self._value(site_id, kind, p, local_hour, ep),
                            "flag": "N",
                        }
                if not values:
                    continue
                payload = {
                    "site": site_id,
                    "period_start": _iso_local(t, tz),
                    "interval_s": interval,
                    "values": values,
                }
                yield SimMessage(
                    station_topic(kind, site_id),
                    json.dumps(payload, separators=(",", ":")).encode(),
                    t,
                    len(values),
                )
            t += timedelta(seconds=step)
