"""transforms.qc.engine: every check over a frame of readings, with the registry facts —
service periods from local midnights, thresholds converted into the parameter's unit, the clock
tolerance — on both sides of each boundary; only flags (no pass) come out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from qcdata import AIR, OUTLET, QC_YAML, reading

from core.schema import READINGS_SCHEMA
from transforms.qc.config import QcConfig, load_qc_config
from transforms.qc.engine import FLAG_COLUMNS, evaluate, make_context
from transforms.qc.flags import Flag

COMMISSIONED = date(2024, 3, 1)  # local midnight in Asia/Shanghai: 2024-02-29 16:00 UTC
START = datetime(2024, 2, 29, 16, tzinfo=UTC)
NOW = datetime(2024, 3, 2, tzinfo=UTC)
CTX = make_context(
    sites=[(AIR, "air", "Asia/Shanghai", COMMISSIONED, None), (OUTLET, "outlet", "Asia/Shanghai", None, None)],
    parameters=[("pm25", "ug/m3", 0.0, 5000.0), ("pm10", "ug/m3", 0.0, 10000.0),
                ("so2", "ug/m3", 0.0, 1.0e7), ("o2", "%", 0.0, 21.0)],
    units=[("ug/m3", "mass_concentration_gas", 0.001), ("mg/m3", "mass_concentration_gas", 1.0),
           ("%", "fraction", 1.0)],
)  # fmt: skip


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> QcConfig:
    path: Path = tmp_path_factory.mktemp("qc") / "qc.yaml"
    path.write_text(QC_YAML, encoding="utf-8")
    return load_qc_config(path, ["pm25", "pm10", "so2", "o2"])


def _frame(rows: list[dict]) -> pl.DataFrame:
    cols = [c for c in READINGS_SCHEMA.names if c in rows[0]]
    return pl.DataFrame(rows).select(cols).with_columns(
        pl.col("period_start").dt.cast_time_unit("us"), pl.col("interval_s").cast(pl.Int32)
    )


def _flags(flags: pl.DataFrame) -> set[tuple[str, datetime, str, int]]:
    return {(r["parameter"], r["period_start"], r["check_name"], r["flag"]) for r in flags.iter_rows(named=True)}


def test_service_starts_at_the_local_midnight_of_commissioning(cfg: QcConfig) -> None:
    before, first = START - timedelta(hours=1), START
    flags = evaluate(_frame([reading(AIR, "pm25", before, 30.0), reading(AIR, "pm25", first, 30.0)]), cfg, CTX, NOW)
    assert flags.columns == list(FLAG_COLUMNS)
    assert _flags(flags) == {("pm25", before, "timestamp", Flag.FAIL)}


def test_thresholds_are_converted_into_the_parameters_unit(cfg: QcConfig) -> None:
    # so2 at outlets: instrument max 500 mg/m3 in qc.yaml; the parameter's unit is ug/m3
    t = START
    rows = [reading(OUTLET, "so2", t, 500.0), reading(OUTLET, "so2", t + timedelta(hours=1), 500.1),
            reading(OUTLET, "so2", t + timedelta(hours=2), 500_100.0, unit="ug/m3")]  # fmt: skip
    flags = evaluate(_frame(rows), cfg, CTX, NOW)
    assert _flags(flags) == {
        ("so2", t + timedelta(hours=1), "gross_range", Flag.SUSPECT),
        ("so2", t + timedelta(hours=2), "gross_range", Flag.SUSPECT),
    }
    assert set(flags["detail"]) == {"outside instrument range [0.0, 500000.0] ug/m3"}


def test_physical_range_fails_and_the_clock_tolerance_is_kept(cfg: QcConfig) -> None:
    future_ok = NOW + timedelta(seconds=cfg.file.future_tolerance_s)
    future = future_ok + timedelta(seconds=1)
    rows = [reading(AIR, "pm25", START + timedelta(hours=1), 5001.0),
            reading(AIR, "pm25", future_ok, 30.0, interval_s=60), reading(AIR, "pm25", future, 31.0, interval_s=60)]  # fmt: skip
    got = _flags(evaluate(_frame(rows), cfg, CTX, NOW))
    assert ("pm25", START + timedelta(hours=1), "gross_range", Flag.FAIL) in got
    assert ("pm25", future, "timestamp", Flag.FAIL) in got
    assert not any(k[1] == future_ok for k in got)


def test_nothing_to_check_gives_an_empty_flag_table(cfg: QcConfig) -> None:
    out = evaluate(pl.DataFrame(), cfg, CTX, NOW)
    assert out.height == 0 and out.columns == list(FLAG_COLUMNS)
