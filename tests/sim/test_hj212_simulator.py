"""The logger simulator's O2-corrected values are the standards module's correction
(transforms.standards.emissions.o2_corrected, HJ 75-2017 / GB 13223-2011: C_zs = C x (21 -
O2_ref) / (21 - O2)), per minute and for the hour's means, with no value where O2 reaches 21 %."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from core.registry.config import Registry, load_registry
from core.settings import load_settings
from ingest.hj212.protocol import try_parse
from sim.hj212_simulator import LoggerHabits, LoggerSimOptions, SimLogger, zs_factor
from transforms.standards.emissions import o2_corrected, reference_o2

SITE = "huaneng_gaobeidian_da001"  # coal-fired power stack: SO2, NOx, dust, O2, flow
START = datetime(2026, 11, 30, 16, tzinfo=UTC)  # local midnight


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(load_settings().config_dir)


def logger(registry: Registry) -> SimLogger:
    opts = LoggerSimOptions(seed=3, gap_rate=0.0, exceed_rate=0.0, stuck_rate=0.0, maintenance_rate=0.0,
                            calibration_hour=None, habits={SITE: LoggerHabits(600, "end")})
    return SimLogger(registry, SITE, START, START + timedelta(hours=6), opts, 0)


def test_zs_factor_is_the_standards_correction_of_one() -> None:
    # 100 mg/m3 at 9 % O2, reference 6 % (coal-fired power boiler): 100 x 15 / 12 = 125 mg/m3
    assert reference_o2("power_boiler_coal") == 6.0
    assert o2_corrected(100.0, 9.0, 6.0) == 125.0
    assert zs_factor(9.0, 6.0).tolist() == [1.25]
    # industrial coal boiler, reference 9 %: at 12 % O2, 12 / 9
    assert zs_factor(12.0, reference_o2("industrial_boiler_coal"))[0] == pytest.approx(12.0 / 9.0)
    # just under 21 % still corrects; at or above 21 % the standards module gives none: NaN
    o2 = [6.0, 20.9, 21.0, 22.0]
    factors = zs_factor(np.array(o2), 6.0)
    assert factors[:2] == pytest.approx([o2_corrected(1.0, x, 6.0) for x in o2[:2]])
    assert factors[1] == pytest.approx(150.0)
    assert [math.isnan(f) for f in factors] == [False, False, True, True]
    assert o2_corrected(1.0, 21.0, 6.0) is None


def test_minute_values_are_corrected_by_the_standards_module(registry: Registry) -> None:
    lg = logger(registry)
    v = lg.values
    assert lg.outlet.reference_o2_pct == reference_o2("power_boiler_coal")
    assert v.zs is not None and v.o2_col is not None
    for p in ("so2", "nox", "dust"):
        j = v.params.index(p)
        expected = o2_corrected(pl.Series(v.avg[:, j]), pl.Series(v.avg[:, v.o2_col]), 6.0).to_numpy()
        assert v.zs[:, j] == pytest.approx(expected, rel=1e-12)


def test_hourly_zsavg_is_the_standards_correction_of_the_hour_means(registry: Registry) -> None:
    lg = logger(registry)
    periods, v = lg.periods, lg.values
    so2, o2 = v.params.index("so2"), v.o2_col
    for hour in range(6):
        rows = np.arange(hour * 6, hour * 6 + 6)  # six 10-minute periods, none missing
        expected = o2_corrected(float(periods.avg[rows, so2].mean()), float(periods.avg[rows, o2].mean()), 6.0)
        packet = try_parse(lg.hour_packet(hour)[0], max_future=None).packet
        assert float(packet.get("a21026-ZsAvg")) == pytest.approx(expected, abs=0.051)  # written to 1 decimal
