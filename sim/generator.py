"""A deterministic generator of plausible readings for the registry's sites (demo and tests).

It writes what a day of station and outlet data looks like (diurnal cycles, noise, a few
gaps) straight into the readings schema. The simulators that speak MQTT and HJ 212 build on
the same value model so that the demo's numbers look alike whichever way they arrive.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from core.registry.config import Registry
from core.schema import INTERVAL_REALTIME_S, READINGS_SCHEMA

# Typical level and daily amplitude (fraction of level) per parameter, by site kind. These are
# plausible magnitudes for a demo, not limits of any standard.
TYPICAL = {
    "so2": (8.0, 0.3), "no2": (40.0, 0.4), "pm10": (80.0, 0.3), "pm25": (50.0, 0.35),
    "co": (0.9, 0.3), "o3": (70.0, 0.8),
    "ph": (7.6, 0.02), "do": (7.5, 0.1), "codmn": (4.0, 0.1), "cod": (18.0, 0.15), "nh3n": (0.5, 0.2),
    "tp": (0.12, 0.2), "tn": (1.2, 0.1), "water_temp": (12.0, 0.1), "turbidity": (8.0, 0.2),
    "conductivity": (600.0, 0.05), "leq": (55.0, 0.12), "lmax": (72.0, 0.1),
}
OUTLET_TYPICAL = {
    "so2": (22.0, 0.2), "nox": (45.0, 0.2), "dust": (6.0, 0.25), "o2": (8.0, 0.05),
    "flue_flow": (450000.0, 0.25), "flue_temp": (95.0, 0.05), "flue_velocity": (14.0, 0.2),
    "flue_pressure": (-0.3, 0.1), "flue_humidity": (9.0, 0.1),
    "cod": (30.0, 0.2), "nh3n": (2.0, 0.25), "ph": (7.2, 0.02), "tp": (0.3, 0.2), "tn": (9.0, 0.15),
    "ww_flow": (180.0, 0.3),
}


def diurnal(parameter: str, local_hour: np.ndarray) -> np.ndarray:
    """Shape in [-1, 1]: ozone peaks mid-afternoon, traffic pollutants and noise by day."""
    if parameter == "o3":
        return np.cos((local_hour - 15.0) / 24.0 * 2 * math.pi)
    if parameter in ("leq", "lmax"):  # the ambient noise standard's day and night
        from transforms.standards.noise import day_night_hours  # here: the standards load polars

        day, night = day_night_hours()
        return np.where((local_hour >= day) & (local_hour < night), 1.0, -1.0)
    return np.cos((local_hour - 8.0) / 24.0 * 2 * math.pi)


def generate_day(
    registry: Registry,
    day: date,
    *,
    seed: int = 0,
    source_kind: str = "sim",
    gap_fraction: float = 0.01,
    received_at: datetime | None = None,
    max_interval_points: int | None = None,
) -> pa.Table:
    """Every site parameter of the registry for one local day, at each parameter's interval."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list[np.ndarray]] = {name: [] for name in READINGS_SCHEMA.names}
    for site_id in sorted(registry.site_ids):
        tz = ZoneInfo(registry.site_timezone(site_id))
        start = datetime.combine(day, time(0), tzinfo=tz)
        is_outlet = registry.site_kind(site_id) == "outlet"
        for measured in registry.site_parameters(site_id):
            if measured.interval_s == INTERVAL_REALTIME_S:
                continue
            n = 86400 // measured.interval_s
            if max_interval_points:
                n = min(n, max_interval_points)
            offsets = np.arange(n, dtype=np.int64) * measured.interval_s
            local_hour = (offsets / 3600.0) % 24
            level, amp = (OUTLET_TYPICAL if is_outlet else TYPICAL).get(measured.parameter, (10.0, 0.2))
            values = level * (1 + amp * diurnal(measured.parameter, local_hour))
            values = values * (1 + rng.normal(0, 0.05, n))
            decimals = registry.parameters[measured.parameter].decimals or 0
            values = np.round(values, max(decimals, 1))
            keep = rng.random(n) >= gap_fraction
            starts = np.datetime64(start.astimezone(ZoneInfo("UTC")).replace(tzinfo=None), "us") + (
                offsets[keep] * 1_000_000
            ).astype("timedelta64[us]")
            m = int(keep.sum())
            cols["site_id"].append(np.full(m, site_id, dtype=object))
            cols["parameter"].append(np.full(m, measured.parameter, dtype=object))
            cols["period_start"].append(starts)
            cols["interval_s"].append(np.full(m, measured.interval_s, dtype=np.int32))
            cols["value"].append(values[keep])
            cols["unit"].append(np.full(m, registry.site_unit(site_id, measured.parameter), dtype=object))
            cols["flag"].append(np.full(m, "N" if is_outlet else None, dtype=object))
    total = sum(len(a) for a in cols["site_id"])
    received = received_at or datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo("UTC"))
    arrays = {
        "site_id": pa.array(np.concatenate(cols["site_id"]), pa.string()),
        "parameter": pa.array(np.concatenate(cols["parameter"]), pa.string()),
        "period_start": pa.array(np.concatenate(cols["period_start"]), pa.timestamp("us")).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "interval_s": pa.array(np.concatenate(cols["interval_s"]), pa.int32()),
        "source_kind": pa.array([source_kind] * total, pa.string()),
        "value": pa.array(np.concatenate(cols["value"]), pa.float64()),
        "unit": pa.array(np.concatenate(cols["unit"]), pa.string()),
        "flag": pa.array(np.concatenate(cols["flag"]), pa.string()),
        "received_at": pa.array([received] * total, pa.timestamp("us", tz="UTC")),
        "origin": pa.array([f"generator:seed={seed}"] * total, pa.string()),
    }
    return pa.table(arrays).select([n for n in READINGS_SCHEMA.names if n in arrays])
