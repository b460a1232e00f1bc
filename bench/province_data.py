"""A generated province-day: registry (YAML) and landing batches written as the ingestors would.

Shape at scale 1, fraction 1 (`ProvinceShape`): 3,000 flue-gas outlets reporting 8 parameters
every minute over HJ 212 (about 34 million readings), 500 air stations hourly, 300 water sections
every 4 hours and 1,000 noise points hourly over MQTT, spread over `regions` district grids (the
partitions of the nightly run), each with a few street grids and their officers.

Values follow `sim.generator`'s value model (typical level, diurnal shape, noise), vectorised
with numpy per hour of data; permit limits, reference O2 and permitted quantities are copied from
the demo registry's outlets (config data citing their standard), never typed here. A few outlets
have an episode of high emissions so that rules fire and cases open.

Landing batches are what `ingest/hj212/server.py` writes (at most `batch_readings` = 20,000
readings each, time-ordered) and what the MQTT ingestor writes (one batch per kind and hour).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from core.landing import LandingZone
from core.schema import INTERVAL_HOUR_S, INTERVAL_MINUTE_S
from core.settings import REPO_ROOT
from sim.generator import OUTLET_TYPICAL, TYPICAL, diurnal

TZ = "Asia/Shanghai"
HJ212_BATCH_READINGS = 20_000  # ingest/hj212/server.py ServerConfig.batch_readings
OUTLET_PARAMETERS = (
    "so2",
    "nox",
    "dust",
    "o2",
    "flue_flow",
    "flue_temp",
    "flue_velocity",
    "flue_pressure",
)
AIR_PARAMETERS = ("so2", "no2", "pm10", "pm25", "co", "o3")
WATER_PARAMETERS = ("ph", "do", "codmn", "cod", "nh3n", "tp", "tn", "water_temp")
WATER_INTERVAL_S = 14400
NOISE_PARAMETERS = ("leq", "lmax")
NOISE_ZONES = ("1", "2", "3", "4a")
WATER_TARGETS = ("II", "III", "IV")
STREETS_PER_REGION = 4
EPISODE_SHARE = 0.02  # outlets with a 3-hour high-emission episode (alerts, cases)
GAP_FRACTION = 0.01


@dataclass(frozen=True)
class ProvinceShape:
    outlets: int
    air: int
    water: int
    noise: int
    regions: int

    @classmethod
    def of(cls, scale: float = 1.0, fraction: float = 1.0, regions: int = 16) -> ProvinceShape:
        f = scale * fraction

        def n(base: int) -> int:
            return max(1, round(base * f))

        return cls(outlets=n(3000), air=n(500), water=n(300), noise=n(1000), regions=regions)

    @property
    def expected_readings(self) -> int:
        per_day = (
            self.outlets * len(OUTLET_PARAMETERS) * 1440
            + self.air * len(AIR_PARAMETERS) * 24
            + self.water * len(WATER_PARAMETERS) * (86400 // WATER_INTERVAL_S)
            + self.noise * len(NOISE_PARAMETERS) * 24
        )
        return round(per_day * (1 - GAP_FRACTION))


def region_id(i: int) -> str:
    return f"region_{i + 1:02d}"


def street_id(region: int, j: int) -> str:
    return f"region_{region + 1:02d}_st{j + 1}"


# --------------------------------------------------------------------------- registry
def _officer(grid_id: str, role: str, k: int) -> dict[str, Any]:
    return {
        "officer_id": f"{grid_id}_{role}", "name_zh": f"网格员{k:04d}", "name_en": f"Officer {k:04d}",
        "role": role, "phone": f"0571-{80000000 + k}", "email": f"{grid_id}.{role}@eeb.example.gov.cn",
    }  # fmt: skip


def _grids(shape: ProvinceShape) -> list[dict[str, Any]]:
    grids = [{
        "grid_id": "city", "name_zh": "省级网格", "name_en": "Province grid", "level": "city", "parent_id": None,
        "officers": [_officer("city", "leader", 0), _officer("city", "responsible", 1)],
    }]  # fmt: skip
    k = 2
    for i in range(shape.regions):
        rid = region_id(i)
        grids.append({
            "grid_id": rid, "name_zh": f"第{i + 1:02d}区县网格", "name_en": f"Region {i + 1:02d} grid",
            "level": "district", "parent_id": "city",
            "officers": [_officer(rid, "leader", k), _officer(rid, "responsible", k + 1)],
        })  # fmt: skip
        k += 2
        for j in range(STREETS_PER_REGION):
            sid = street_id(i, j)
            grids.append({
                "grid_id": sid, "name_zh": f"第{i + 1:02d}区县第{j + 1}街道网格",
                "name_en": f"Region {i + 1:02d} street {j + 1} grid", "level": "street", "parent_id": rid,
                "officers": [_officer(sid, "responsible", k), _officer(sid, "inspector", k + 1)],
            })  # fmt: skip
            k += 2
    grids.append({
        "grid_id": "key_enterprises", "name_zh": "重点排污单位专项网格", "name_en": "Key enterprises grid",
        "level": "key_enterprise", "parent_id": "city", "officers": [_officer("key_enterprises", "responsible", k)],
    })  # fmt: skip
    return grids


def _street_of(index: int, shape: ProvinceShape) -> str:
    region = index % shape.regions
    return street_id(region, (index // shape.regions) % STREETS_PER_REGION)


def _stations(shape: ProvinceShape) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(shape.air):
        out.append({
            "site_id": f"air_{i + 1:04d}", "kind": "air", "name_zh": f"空气站{i + 1:04d}",
            "name_en": f"Air station {i + 1:04d}", "grid_id": _street_of(i, shape),
            "commissioned_on": "2015-01-01", "air_zone_class": "2", "in_city_assessment": True,
            "parameters": [{"parameter": p, "interval_s": INTERVAL_HOUR_S} for p in AIR_PARAMETERS],
        })  # fmt: skip
    for i in range(shape.water):
        out.append({
            "site_id": f"water_{i + 1:04d}", "kind": "water", "name_zh": f"水质断面{i + 1:04d}",
            "name_en": f"Water section {i + 1:04d}", "grid_id": _street_of(i, shape),
            "commissioned_on": "2015-01-01", "water_target_class": WATER_TARGETS[i % len(WATER_TARGETS)],
            "waterbody": "lake" if i % 5 == 0 else "river",
            "parameters": [{"parameter": p, "interval_s": WATER_INTERVAL_S} for p in WATER_PARAMETERS],
        })  # fmt: skip
    for i in range(shape.noise):
        out.append({
            "site_id": f"noise_{i + 1:04d}", "kind": "noise", "name_zh": f"噪声点{i + 1:04d}",
            "name_en": f"Noise point {i + 1:04d}", "grid_id": _street_of(i, shape),
            "commissioned_on": "2015-01-01", "noise_zone": NOISE_ZONES[i % len(NOISE_ZONES)],
            "parameters": [{"parameter": p, "interval_s": INTERVAL_HOUR_S} for p in NOISE_PARAMETERS],
        })  # fmt: skip
    return out


def _outlet_templates() -> list[dict[str, Any]]:
    """Flue-gas outlets of the demo registry: reference O2, standard, permit limits, quantities."""
    demo = yaml.safe_load(
        (REPO_ROOT / "config" / "registry" / "enterprises.yaml").read_text(encoding="utf-8")
    )
    found = []
    for ent in demo["enterprises"]:
        for o in ent["outlets"]:
            if o["outlet_type"] == "flue_gas" and o.get("permit_limits"):
                limits = [
                    lim for lim in o["permit_limits"] if lim["parameter"] in OUTLET_PARAMETERS
                ]
                quantities = [
                    q
                    for q in o.get("permitted_quantities", [])
                    if q["parameter"] in OUTLET_PARAMETERS
                ]
                found.append({
                    "reference_o2_pct": o.get("reference_o2_pct"), "emission_standard": o.get("emission_standard"),
                    "permit_limits": limits, "permitted_quantities": quantities,
                })  # fmt: skip
    if not found:
        raise RuntimeError("the demo registry has no flue-gas outlet with permit limits to copy")
    return found


def outlet_ids(shape: ProvinceShape) -> list[str]:
    return [f"ent_{i // 2 + 1:05d}_da{i % 2 + 1:03d}" for i in range(shape.outlets)]


def _enterprises(shape: ProvinceShape) -> list[dict[str, Any]]:
    templates = _outlet_templates()
    ids = outlet_ids(shape)
    enterprises: list[dict[str, Any]] = []
    for i, site_id in enumerate(ids):
        e = i // 2
        if i % 2 == 0:
            enterprises.append({
                "enterprise_id": f"ent_{e + 1:05d}", "name_zh": f"排污单位{e + 1:05d}",
                "name_en": f"Enterprise {e + 1:05d}", "grid_id": _street_of(e, shape),
                "special_grid_id": "key_enterprises" if e % 10 == 0 else None,
                "industry": "thermal_power", "key_monitored": e % 10 == 0, "outlets": [],
            })  # fmt: skip
        t = templates[i % len(templates)]
        enterprises[-1]["outlets"].append({
            "site_id": site_id, "name_zh": f"排放口{i % 2 + 1}号", "name_en": f"stack no. {i % 2 + 1}",
            "outlet_type": "flue_gas", "reference_o2_pct": t["reference_o2_pct"],
            "emission_standard": t["emission_standard"], "commissioned_on": "2016-01-01",
            "logger": {"mn": f"P{i + 1:020d}", "password": f"{(i * 7919) % 1000000:06d}", "protocol_edition": "HJ212-2017"},
            "parameters": [
                {"parameter": p, "interval_s": INTERVAL_MINUTE_S, **({"unit": "mg/m3"} if p == "so2" else {})}
                for p in OUTLET_PARAMETERS
            ],
            "permit_limits": t["permit_limits"], "permitted_quantities": t["permitted_quantities"],
        })  # fmt: skip
    for ent in enterprises:
        if ent["special_grid_id"] is None:
            del ent["special_grid_id"]
    return enterprises


def write_config(config_dir: Path, shape: ProvinceShape) -> Path:
    """A configuration folder: the repository's rules, QC and formats, and the generated registry."""
    src = REPO_ROOT / "config"
    if config_dir.exists():
        shutil.rmtree(config_dir)
    shutil.copytree(src, config_dir, ignore=shutil.ignore_patterns("registry"))
    reg = config_dir / "registry"
    reg.mkdir()
    for name in ("units.yaml", "parameters.yaml"):
        shutil.copy(src / "registry" / name, reg / name)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for name, key, items in (
        ("grids.yaml", "grids", _grids(shape)),
        ("stations.yaml", "stations", _stations(shape)),
        ("enterprises.yaml", "enterprises", _enterprises(shape)),
    ):
        text = yaml.dump(
            {key: items}, Dumper=dumper, allow_unicode=True, sort_keys=False, width=200
        )
        (reg / name).write_text(
            f"# generated by bench/province_data.py for {shape}\n" + text, encoding="utf-8"
        )
    return config_dir


def region_of_sites(shape: ProvinceShape) -> dict[str, str]:
    """site_id -> region grid (what `grids.parent_id` of the site's street grid says)."""
    out: dict[str, str] = {}
    for s in _stations(shape):
        out[s["site_id"]] = s["grid_id"].rsplit("_st", 1)[0]
    for e in _enterprises(shape):
        for o in e["outlets"]:
            out[o["site_id"]] = e["grid_id"].rsplit("_st", 1)[0]
    return out


# --------------------------------------------------------------------------- readings
def _dict_array(indices: np.ndarray, names: list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, pa.int32()), pa.array(names, pa.string())
    ).cast(pa.string())


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype("datetime64[us]"), pa.timestamp("us")).cast(
        pa.timestamp("us", tz="UTC")
    )


def _decimals(parameter: str) -> int:
    return _PARAM_DECIMALS.get(parameter, 1)


def _load_decimals() -> dict[str, int]:
    raw = yaml.safe_load(
        (REPO_ROOT / "config" / "registry" / "parameters.yaml").read_text(encoding="utf-8")
    )
    return {p["parameter"]: max(int(p.get("decimals") or 0), 1) for p in raw["parameters"]}


_PARAM_DECIMALS = _load_decimals()


@dataclass
class GenerationReport:
    readings: int = 0
    batches: int = 0
    seconds: float = 0.0


def _batch(
    site_idx: np.ndarray, sites: list[str], param_idx: np.ndarray, params: list[str], units: list[str],
    starts_us: np.ndarray, interval_s: int, values: np.ndarray, source_kind: str, flag: str | None, seq: int,
) -> pa.Table:  # fmt: skip
    n = len(values)
    received = starts_us + (interval_s + 5) * 1_000_000
    return pa.table({
        "site_id": _dict_array(site_idx, sites),
        "parameter": _dict_array(param_idx, params),
        "period_start": _ts(starts_us),
        "interval_s": pa.array(np.full(n, interval_s, dtype=np.int32)),
        "source_kind": pa.array([source_kind]).take(pa.array(np.zeros(n, dtype=np.int32))),
        "value": pa.array(values, pa.float64()),
        "unit": _dict_array(param_idx, units),
        "flag": pa.nulls(n, pa.string()) if flag is None else pa.array([flag]).take(pa.array(np.zeros(n, dtype=np.int32))),
        "received_at": _ts(received),
        "origin": pa.array([f"bench:province:{source_kind}:{seq}"]).take(pa.array(np.zeros(n, dtype=np.int32))),
    })  # fmt: skip


def _shape_values(parameter: str, typical: dict[str, tuple[float, float]], site_factor: np.ndarray,
                  local_hour: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """values[site, t]: level x site factor x (1 + amp x diurnal) x (1 + 5 % noise), rounded."""
    level, amp = typical.get(parameter, (10.0, 0.2))
    shape = level * (1 + amp * diurnal(parameter, local_hour))
    noise = 1 + rng.normal(0, 0.05, (len(site_factor), len(local_hour)))
    return np.round(site_factor[:, None] * shape[None, :] * noise, _decimals(parameter))


def write_day(
    landing: LandingZone, shape: ProvinceShape, day: date, *, seed: int = 0
) -> GenerationReport:
    """Write the province's readings of local day `day` to the landing zone."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    rep = GenerationReport()
    utc_start = datetime(day.year, day.month, day.day, tzinfo=_zone()).astimezone(UTC)
    start_us = int(utc_start.timestamp() * 1_000_000)
    _write_outlets(landing, shape, start_us, rng, rep)
    _write_stations(landing, shape, start_us, rng, rep)
    rep.seconds = time.perf_counter() - started
    return rep


def _zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo(TZ)


def _write_outlets(landing: LandingZone, shape: ProvinceShape, start_us: int, rng: np.random.Generator,
                   rep: GenerationReport) -> None:  # fmt: skip
    sites = outlet_ids(shape)
    n_out, n_par = len(sites), len(OUTLET_PARAMETERS)
    params = list(OUTLET_PARAMETERS)
    units = ["mg/m3" if p == "so2" else _param_unit(p) for p in params]
    factor = np.exp(rng.normal(0, 0.2, n_out))
    episode = rng.random(n_out) < EPISODE_SHARE
    episode_hour = rng.integers(0, 21, n_out)
    pollutant = np.array([p in ("so2", "nox", "dust") for p in params])
    # index grids of one hour of rows, ordered (minute, outlet, parameter) as loggers send them
    minute_i, site_i, param_i = (
        a.ravel()
        for a in np.meshgrid(np.arange(60), np.arange(n_out), np.arange(n_par), indexing="ij")
    )
    seq = 0
    for hour in range(24):
        local_hour = hour + np.arange(60) / 60.0
        block = np.empty((60, n_out, n_par))
        for k, p in enumerate(params):
            block[:, :, k] = _shape_values(p, OUTLET_TYPICAL, factor, local_hour, rng).T
        boost = episode & (episode_hour <= hour) & (hour < episode_hour + 3)
        if boost.any():
            block[:, boost[:, None].repeat(n_par, 1) & pollutant[None, :]] *= 4.0
        values = block.ravel()
        keep = rng.random(values.size) >= GAP_FRACTION
        starts = start_us + (hour * 3600 + minute_i * 60).astype(np.int64) * 1_000_000
        idx = np.flatnonzero(keep)
        for lo in range(0, idx.size, HJ212_BATCH_READINGS):
            sel = idx[lo : lo + HJ212_BATCH_READINGS]
            table = _batch(site_i[sel], sites, param_i[sel], params, units, starts[sel], INTERVAL_MINUTE_S,
                           values[sel], "hj212", "N", seq)  # fmt: skip
            landing.write_readings(table, "hj212")
            rep.readings += table.num_rows
            rep.batches += 1
            seq += 1


def _write_stations(landing: LandingZone, shape: ProvinceShape, start_us: int, rng: np.random.Generator,
                    rep: GenerationReport) -> None:  # fmt: skip
    kinds = (
        ([f"air_{i + 1:04d}" for i in range(shape.air)], AIR_PARAMETERS, INTERVAL_HOUR_S),
        ([f"water_{i + 1:04d}" for i in range(shape.water)], WATER_PARAMETERS, WATER_INTERVAL_S),
        ([f"noise_{i + 1:04d}" for i in range(shape.noise)], NOISE_PARAMETERS, INTERVAL_HOUR_S),
    )
    seq = 0
    for sites, params, interval in kinds:
        n_t = 86400 // interval
        local_hour = np.arange(n_t) * interval / 3600.0
        factor = np.exp(rng.normal(0, 0.25, len(sites)))
        factor_flat = np.exp(
            rng.normal(0, 0.02, len(sites))
        )  # pH, temperatures, levels vary little
        vals = np.stack([
            _shape_values(p, TYPICAL, factor_flat if p in ("ph", "water_temp", "leq", "lmax") else factor, local_hour, rng)
            for p in params
        ], axis=2)  # fmt: skip  # (site, t, param)
        site_i, t_i, param_i = (
            a.ravel()
            for a in np.meshgrid(
                np.arange(len(sites)), np.arange(n_t), np.arange(len(params)), indexing="ij"
            )
        )
        values = vals.ravel()
        keep = rng.random(values.size) >= GAP_FRACTION
        units = [_param_unit(p) for p in params]
        # one MQTT batch per period of data (the ingestor flushes as the period's messages arrive)
        for t in range(n_t):
            sel = np.flatnonzero(keep & (t_i == t))
            starts = start_us + t_i[sel].astype(np.int64) * interval * 1_000_000
            table = _batch(site_i[sel], sites, param_i[sel], list(params), units, starts, interval, values[sel],
                           "mqtt", None, seq)  # fmt: skip
            landing.write_readings(table, "mqtt")
            rep.readings += table.num_rows
            rep.batches += 1
            seq += 1


_UNITS: dict[str, str] = {}


def _param_unit(parameter: str) -> str:
    if not _UNITS:
        raw = yaml.safe_load(
            (REPO_ROOT / "config" / "registry" / "parameters.yaml").read_text(encoding="utf-8")
        )
        _UNITS.update({p["parameter"]: p["unit"] for p in raw["parameters"]})
    return _UNITS[parameter]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = _zone()
    lo = datetime(day.year, day.month, day.day, tzinfo=zone)
    nxt = day + timedelta(days=1)
    return lo, datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone)
