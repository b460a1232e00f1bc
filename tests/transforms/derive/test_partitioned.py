"""Partitioned (region x day) and unpartitioned derivations give the same tables.

A small generated province (bench/province_data.py: 5 regions, outlets with minute data, air,
water and noise stations) is loaded and QC'd into a real DuckDB file; `derive_hourly` +
`derive_daily` write the tables; then the region partitions are computed by two concurrent
processes holding the warehouse read-only, and the single writer replaces the rows. Every
derived table is compared row by row on its primary key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pendulum
import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from bench.province_compare import compare_tables, snapshot_tables  # noqa: E402
from bench.province_data import ProvinceShape, day_bounds, region_of_sites, write_config, write_day  # noqa: E402
from core.landing import LandingZone  # noqa: E402
from core.settings import get_settings, reset_settings_cache  # noqa: E402
from envmon import pipeline  # noqa: E402
from transforms.derive.partitioned import (  # noqa: E402
    PartitionError,
    partitions_for,
    site_regions,
    write_partitions,
)
from warehouse.db import connect  # noqa: E402
from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job  # noqa: E402

DAY = date(2026, 3, 10)
SHAPE = ProvinceShape(outlets=10, air=8, water=4, noise=6, regions=5)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("province")
    saved = {k: os.environ.get(k) for k in ("ENVMON_HOME", "ENVMON_CONFIG_DIR")}
    os.environ["ENVMON_HOME"] = str(home)
    os.environ["ENVMON_CONFIG_DIR"] = str(write_config(home / "config", SHAPE))
    reset_settings_cache()
    settings = get_settings()
    write_day(LandingZone(settings.landing_root), SHAPE, DAY, seed=3)
    init_warehouse(settings)
    load_registry_job(settings)
    load_landing_job(settings)
    start, end = day_bounds(DAY)
    pipeline.qc_interval(start, end, settings)
    pipeline.derive_hours(start, end, settings)
    pipeline.derive_days(start, end, settings)
    yield settings, home, start, end
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    reset_settings_cache()


def _partition_in_child(home: Path, region: str) -> subprocess.Popen:
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from datetime import date\n"
        "import pendulum\n"
        "from bench.province_data import day_bounds\n"
        "from transforms.derive.partitioned import compute_partition\n"
        # the bounds as Airflow passes a data interval: pendulum DateTimes
        f"bounds = [pendulum.instance(t) for t in day_bounds(date.fromisoformat({DAY.isoformat()!r}))]\n"
        f"print(compute_partition(None, {region!r}, *bounds))\n"
    )
    env = {**os.environ, "ENVMON_HOME": str(home), "ENVMON_CONFIG_DIR": str(home / "config")}
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_regions_follow_the_grid_tree(province) -> None:  # type: ignore[no-untyped-def]
    settings, _, start, end = province
    with connect(settings, write=False) as con:
        regions = site_regions(con)
    assert regions == region_of_sites(SHAPE)  # the generator's own record of where it put each site
    parts = partitions_for(settings, start, end)
    assert parts == [{"region": f"region_{i:02d}", "day": DAY.isoformat()} for i in range(1, 6)]


def test_partitioned_run_gives_identical_tables(province, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, home, start, end = province
    snap = tmp_path / "snapshot"
    snap.mkdir()
    held = snapshot_tables(settings, str(snap))
    assert held["aggregates"] > 1000 and held["aqi_hourly"] > 0 and held["aqi_daily"] > 0
    assert held["water_class"] == SHAPE.water and held["noise_daily"] == SHAPE.noise
    # review T3: the outlets' official hours and days come out of the partitions too
    assert held["outlet_hours"] > 0 and held["outlet_days"] > 0
    # an incomplete set of partitions is refused, naming what is missing
    with pytest.raises(PartitionError, match="region_01"):
        write_partitions(settings, start, end)
    # two partitions at a time, each in its own process with the warehouse open read-only
    regions = [p["region"] for p in partitions_for(settings, start, end)]
    for pair in (regions[i : i + 2] for i in range(0, len(regions), 2)):
        procs = [_partition_in_child(home, r) for r in pair]
        for p in procs:
            _out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err[-3000:]
    written = write_partitions(settings, pendulum.instance(start), pendulum.instance(end))
    assert written[DAY.isoformat()]["regions"] == 5
    result = compare_tables(settings, str(snap))
    assert {t: r["rows"] for t, r in result.items() if t in held} == {t: held[t] for t in result}
    assert {t: r["identical"] for t, r in result.items()} == dict.fromkeys(result, True), result
    # the city's rows (crossing regions) are there: station rows + the city per hour / day
    with connect(settings, write=False) as con:
        assert (
            con.execute("SELECT count(*) FROM aqi_daily WHERE site_id = 'city'").fetchall()[0][0]
            == 1
        )
        assert (
            con.execute("SELECT count(*) FROM aqi_hourly WHERE site_id = 'city'").fetchall()[0][0]
            == 24
        )


def test_compare_tables_sees_a_changed_row(province, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, *_ = province
    snap = tmp_path / "snap2"
    snap.mkdir()
    snapshot_tables(settings, str(snap))
    with connect(settings, purpose="test: alter one row") as con:
        con.execute(
            "UPDATE aggregates SET value = value * (1 + 1e-9) WHERE rowid = (SELECT min(rowid) FROM aggregates WHERE valid)"
        )
    result = compare_tables(settings, str(snap))
    assert result["aggregates"]["differing"] == 1 and not result["aggregates"]["identical"]
    assert result["aqi_daily"]["identical"]
