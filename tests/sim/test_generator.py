"""generate_day: every site parameter of the registry for one local day at its own interval
(real-time parameters left out), in the readings schema, UTC period starts from the site's
local midnight, registry units, outlets flagged N; the same seed gives the same table; gaps at
the asked share; max_interval_points caps each series."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from core.registry.config import Registry, load_registry
from core.schema import INTERVAL_REALTIME_S, READINGS_SCHEMA
from core.settings import load_settings
from sim.generator import generate_day

DAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(load_settings().config_dir)


def series(registry: Registry) -> dict[tuple[str, str, int], int]:
    return {(s, m.parameter, m.interval_s): 86400 // m.interval_s for s in registry.site_ids
            for m in registry.site_parameters(s) if m.interval_s != INTERVAL_REALTIME_S}


def test_a_whole_day_of_every_series(registry: Registry) -> None:
    table = generate_day(registry, DAY, seed=1, gap_fraction=0.0)
    assert table.schema.names == [n for n in READINGS_SCHEMA.names if n in table.schema.names]
    counts = table.group_by(["site_id", "parameter", "interval_s"]).aggregate([("value", "count")]).to_pylist()
    assert {(c["site_id"], c["parameter"], c["interval_s"]): c["value_count"] for c in counts} == series(registry)
    dongsi_pm25 = table.filter(pc.and_(pc.equal(table["site_id"], "dongsi"), pc.equal(table["parameter"], "pm25")))
    rows = dongsi_pm25.to_pylist()
    assert rows[0]["period_start"] == datetime(2026, 3, 9, 16, tzinfo=UTC)  # local midnight, +08:00
    assert rows[-1]["period_start"] == datetime(2026, 3, 10, 15, tzinfo=UTC)
    assert rows[0]["unit"] == registry.site_unit("dongsi", "pm25") and rows[0]["flag"] is None
    assert rows[0]["source_kind"] == "sim" and rows[0]["origin"] == "generator:seed=1"
    assert rows[0]["received_at"] == datetime(2026, 3, 11, tzinfo=UTC)
    is_outlet = pc.is_in(table["site_id"], pa.array(sorted(registry.outlets)))
    assert pc.unique(table.filter(is_outlet)["flag"]).to_pylist() == ["N"]
    assert pc.unique(table.filter(pc.invert(is_outlet))["flag"]).to_pylist() == [None]


def test_same_seed_same_day_gaps_and_caps(registry: Registry) -> None:
    capped = generate_day(registry, DAY, seed=2, gap_fraction=0.0, max_interval_points=3)
    assert capped.num_rows == sum(min(n, 3) for n in series(registry).values())
    # three periods of each series from local midnight: the longest below a day is four hours
    assert pc.max(capped.column("period_start")).as_py() == datetime(2026, 3, 10, 0, tzinfo=UTC)
    assert capped.equals(generate_day(registry, DAY, seed=2, gap_fraction=0.0, max_interval_points=3))
    assert not capped.equals(generate_day(registry, DAY, seed=3, gap_fraction=0.0, max_interval_points=3))
    full = sum(min(n, 200) for n in series(registry).values())
    gappy = generate_day(registry, DAY, seed=2, gap_fraction=0.1, max_interval_points=200).num_rows
    assert 0.88 * full < gappy < 0.92 * full
