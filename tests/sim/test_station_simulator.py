"""The station simulator: one message per site and period in [start, end), in time order, in
the MQTT payload contract (local period start, interval, values flagged N or D); the same seed
gives the same messages; healthy levels sit against each site's own standard (noise 3 dB(A)
under its GB 3096 zone's day and night limits, water at 60 % of its GB 3838 class limit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest

from core.registry.config import Registry, load_registry
from core.settings import load_settings
from ingest.mqtt.topics import station_topic
from sim.station_simulator import (
    NOISE_MARGIN_DBA,
    WATER_SHARE_OF_LIMIT,
    SimOptions,
    StationSimulator,
)
from transforms.standards.noise import zone_limits
from transforms.standards.water import ALL_CLASSES, limits

START = datetime(2026, 3, 1, 16, tzinfo=UTC)  # local midnight, 2026-03-02 +08:00
QUIET = SimOptions(seed=7, gap_rate=0.0, fault_rate=0.0, exceedance_rate=0.0)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(load_settings().config_dir)


def payloads(sim: StationSimulator, start: datetime, end: datetime) -> list[dict]:
    return [json.loads(m.payload) for m in sim.messages(start, end)]


def test_one_message_per_site_and_period_in_time_order(registry: Registry) -> None:
    sim = StationSimulator(registry, QUIET)
    messages = list(sim.messages(START, START + timedelta(hours=8)))
    starts = [m.period_start for m in messages]
    assert starts == sorted(starts) and starts[0] == START and starts[-1] < START + timedelta(hours=8)
    dongsi = [m for m in messages if json.loads(m.payload)["site"] == "dongsi"]
    assert len(dongsi) == 8  # hourly air station
    assert dongsi[0].topic == station_topic("air", "dongsi")
    first = json.loads(dongsi[0].payload)
    assert first["period_start"] == "2026-03-02T00:00:00+08:00" and first["interval_s"] == 3600
    assert set(first["values"]) == {"so2", "no2", "pm10", "pm25", "co", "o3"}
    assert {v["flag"] for v in first["values"].values()} == {"N"}
    assert dongsi[0].readings == 6
    water = [m for m in messages if json.loads(m.payload)["site"] == "ws_miyun_res"]
    assert [m.period_start for m in water] == [START, START + timedelta(hours=4)]  # every four hours


def test_the_same_seed_gives_the_same_messages(registry: Registry) -> None:
    end = START + timedelta(hours=6)
    options = SimOptions(seed=3)
    assert list(StationSimulator(registry, options).messages(START, end)) == list(
        StationSimulator(registry, options).messages(START, end))
    assert list(StationSimulator(registry, SimOptions(seed=4)).messages(START, end)) != list(
        StationSimulator(registry, options).messages(START, end))


def test_kinds_faults_and_gaps(registry: Registry) -> None:
    only_air = payloads(StationSimulator(registry, SimOptions(seed=1, kinds=("air",))), START, START + timedelta(hours=2))
    assert {p["site"] for p in only_air} <= set(registry.stations)
    assert {registry.stations[p["site"]].kind for p in only_air} == {"air"}
    faulty = payloads(StationSimulator(registry, SimOptions(seed=1, gap_rate=0.0, fault_rate=1.0)), START,
                      START + timedelta(hours=1))
    assert {v["flag"] for p in faulty for v in p["values"].values()} == {"D"}
    assert payloads(StationSimulator(registry, SimOptions(seed=1, gap_rate=1.0)), START, START + timedelta(hours=3)) == []


def test_levels_sit_against_the_site_standard(registry: Registry) -> None:
    sim = StationSimulator(registry, QUIET)
    days = payloads(sim, START, START + timedelta(days=10))
    noise = [p for p in days if p["site"] == "nz_dongsi_res"]
    day_limit, night_limit = zone_limits(registry.stations["nz_dongsi_res"].noise_zone)
    by_day = [p["values"]["leq"]["value"] for p in noise if 6 <= int(p["period_start"][11:13]) < 22]
    by_night = [p["values"]["leq"]["value"] for p in noise if not 6 <= int(p["period_start"][11:13]) < 22]
    assert mean(by_day) == pytest.approx(day_limit - NOISE_MARGIN_DBA, abs=0.5)
    assert mean(by_night) == pytest.approx(night_limit - NOISE_MARGIN_DBA, abs=0.5)
    st = registry.stations["ws_miyun_res"]
    tp_limit = limits(st.waterbody)["tp"].limits[ALL_CLASSES.index(st.water_target_class)]
    tp = [p["values"]["tp"]["value"] for p in days if p["site"] == "ws_miyun_res"]
    assert mean(tp) == pytest.approx(WATER_SHARE_OF_LIMIT * tp_limit, rel=0.3)
    assert max(tp) < tp_limit


def test_boundary_points_sit_against_their_gb12348_limits(registry: Registry) -> None:
    """An indoor boundary point (GB 12348-2008: zone 2 limits 60/50 minus 10 dB(A) indoors)
    sits 3 dB(A) under 50 by day and 40 at night; its night maxima stay within limit + 10."""
    st = registry.stations["nb_yanshan_petrochem_north"]
    assert (st.noise_standard, st.noise_zone, st.noise_indoor) == ("GB12348-2008", "2", True)
    day_limit, night_limit = zone_limits("2", "GB12348-2008", indoor=True)
    assert (day_limit, night_limit) == (50.0, 40.0)
    days = payloads(StationSimulator(registry, QUIET), START, START + timedelta(days=10))
    point = [p for p in days if p["site"] == "nb_yanshan_petrochem_north"]
    night = [p for p in point if not 6 <= int(p["period_start"][11:13]) < 22]
    by_day = [p["values"]["leq"]["value"] for p in point if 6 <= int(p["period_start"][11:13]) < 22]
    assert mean(by_day) == pytest.approx(day_limit - NOISE_MARGIN_DBA, abs=0.5)
    assert mean(p["values"]["leq"]["value"] for p in night) == pytest.approx(night_limit - NOISE_MARGIN_DBA, abs=0.5)
    assert mean(p["values"]["lmax"]["value"] for p in night) < night_limit + 10
