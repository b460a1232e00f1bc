"""The day's derivations split by region (grid) so that Airflow can map tasks over partitions.

A region is the grid just below the city-level grid on a site's grid path (a district or
county); every site belongs to one. The nightly derivations become:

1. `partitions_for`: the regions that have sites (the list the DAG maps over);
2. `compute_partition` (one task per region, many in parallel): opens the warehouse READ-ONLY
   (shared lock), computes the region's hourly and daily rows with the same functions as
   `derive_hourly` / `derive_daily` (`hourly_frames`, `daily_frames` over the region's part of
   the network) and writes them as Parquet under `<home>/partitions/<table>/date=D/region=R.parquet`
   (atomic, through the landing zone's writer, so the root may as well be an object store);
   with them go the region's air-station hours and daily values, which the city needs;
3. `write_partitions` (the single writer, pool `warehouse`): reads every region's files of the
   day, computes the city's rows (the mean over all assessed stations crosses regions), and
   replaces each region's rows and the city's in one transaction per stage, as the
   unpartitioned jobs do. The tables come out identical to `derive_hourly` + `derive_daily`
   (bench/province_compare.py compares them; tests/transforms/derive/test_partitioned.py proves it).

The unpartitioned jobs' own row-building is reused, not copied: only the region filter, the
city step and the Parquet hand-over live here.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace as dc_replace
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pyarrow.parquet as pq

from core import periods
from core.landing import LandingZone
from core.periods import HOUR, local_day_range
from core.settings import Settings, get_settings
from transforms.derive import air
from transforms.derive.context import CITY, Network, load_network
from transforms.derive.daily import DAILY_STATISTICS, daily_frames, daily_hours_range
from transforms.derive.frames import with_local_date
from transforms.derive.hourly import HOURLY_STATISTICS, hourly_frames, hourly_inputs
from transforms.derive.store import Replace, write
from warehouse.db import connect

PARTITIONS_DIR = "partitions"
# tables a partition writes; `_city_*` are the region's inputs to the city's rows
HOURLY_TABLES = ("aggregates_hourly", "aqi_hourly", "outlet_hours_hourly")
DAILY_TABLES = (
    "aggregates_daily", "aqi_daily", "water_class", "noise_daily", "emission_totals",
    "outlet_hours", "outlet_days",
)  # fmt: skip
CITY_INPUTS = ("_city_hours", "_city_daily")
CITY_REGION = CITY  # sites whose grid is the city grid itself


class PartitionError(RuntimeError):
    """A partition is missing or inconsistent; the message names the files and regions."""


# ---------------------------------------------------------------- regions
def site_regions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """site_id -> region: the grid below the city-level grid on the path up from the site's grid."""
    grids = {g: (parent, level) for g, parent, level in con.execute(
        "SELECT grid_id, parent_id, level FROM grids").fetchall()}  # fmt: skip
    region_of_grid: dict[str, str] = {}

    def region(grid: str) -> str:
        if grid not in region_of_grid:
            seen, g = [], grid
            while True:
                parent, level = grids.get(g, (None, "city"))
                if level == "city":
                    found = CITY_REGION
                    break
                if parent is None or grids.get(parent, (None, "city"))[1] == "city":
                    found = g
                    break
                seen.append(g)
                g = parent
                if len(seen) > len(grids):
                    raise PartitionError(f"grid {grid!r}: the parent_id chain loops")
            region_of_grid[grid] = found
        return region_of_grid[grid]

    return {s: region(g) for s, g in con.execute("SELECT site_id, grid_id FROM sites").fetchall()}


def _days(settings: Settings, start: datetime, end: datetime) -> list[date]:
    return periods.local_days(start, end, settings.tz)


def partitions_for(
    settings: Settings | None, start: datetime, end: datetime
) -> list[dict[str, str]]:
    """Every (region, local day) partition of [start, end) — what the DAG maps over."""
    settings = settings or get_settings()
    with connect(settings, write=False, purpose="envmon partitions") as con:
        regions = sorted(set(site_regions(con).values()))
    return [
        {"region": r, "day": d.isoformat()} for d in _days(settings, start, end) for r in regions
    ]


def _region_network(net: Network, sites: list[str]) -> Network:
    keep = pl.col("site_id").is_in(sites)
    return dc_replace(
        net,
        sites=net.sites.filter(keep),
        outlets=net.outlets.filter(keep),
        site_parameters=net.site_parameters.filter(keep),
    )


# ---------------------------------------------------------------- the partition task
def _only(df: pl.DataFrame, sites: list[str]) -> pl.DataFrame:
    """The region's rows (never the city's: that crosses regions and is the writer's)."""
    if df.width == 0 or "site_id" not in df.columns:
        return df
    return df.filter(pl.col("site_id").is_in(sites))


def _between(hours: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    return hours.filter(pl.col("period_start").is_between(lo, hi, closed="left"))


def _air_inputs(region_hours: pl.DataFrame, net: Network, stations: list[str], lo: datetime, hi: datetime,
                day: date, tz: str) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
    """The region's air-station hourly values (23 h before lo for the moving means) and daily
    values: what `hourly_frames` / `daily_frames` feed the city's rows with."""
    if not stations:
        return pl.DataFrame(), pl.DataFrame()
    d_lo, d_hi = local_day_range(day, tz)
    hours = _between(region_hours, min(lo - 23 * HOUR, d_lo), max(hi, d_hi)).filter(
        pl.col("site_id").is_in(stations)
    )
    wide = air.wide_hours(
        hours.filter(pl.col("period_start").is_between(lo - 23 * HOUR, hi, closed="left")), stations
    )
    day_hours = with_local_date(hours, net, tz).filter(pl.col("local_date") == day)
    day_wide = air.wide_hours(day_hours, stations)
    daily = (
        air.daily_values(day_wide, tz).filter(pl.col("date") == day)
        if day_wide.height
        else pl.DataFrame()
    )
    return wide, daily


def compute_partition(
    settings: Settings | None, region: str, start: datetime, end: datetime
) -> dict[str, object]:
    """Compute one region's hourly and daily rows for [start, end) and write them as Parquet.
    Reads the warehouse read-only, so any number of partitions can run at once."""
    settings = settings or get_settings()
    tz = settings.timezone
    lo, hi = periods.utc(start, "start"), periods.utc(end, "end")
    started = time.perf_counter()
    out = LandingZone(str(settings.home / PARTITIONS_DIR))
    rows: dict[str, int] = {}
    with connect(settings, write=False, purpose=f"envmon partition {region}") as con:
        regions = site_regions(con)
        sites = sorted(s for s, r in regions.items() if r == region)
        if not sites:
            raise PartitionError(
                f"region {region!r} has no sites; regions: {', '.join(sorted(set(regions.values())))}"
            )
        net = _region_network(load_network(con, settings.config_dir), sites)
        stations = net.site_ids("air")
        for day in _days(settings, lo, hi):
            d_lo, d_hi = local_day_range(day, tz)
            h_lo, h_hi = max(lo, d_lo), min(hi, d_hi)
            # the region's hours derived once, for the hourly rows, the daily rows and the city's
            # inputs alike (with the air stations' earlier hours that their moving means need);
            # hours are independent of each other, so a slice equals a derivation over the slice
            n_lo, n_hi = daily_hours_range(day, tz)
            hours = hourly_inputs(con, net, min(h_lo, n_lo), max(h_hi, n_hi), sites)
            agg_h, aqi_h, oh_h = hourly_frames(
                con, net, h_lo, h_hi, tz, site_ids=sites, hours=_between(hours, h_lo - 23 * HOUR, h_hi),
                reading=settings.aqi_realtime_reading,
            )
            daily = daily_frames(
                con, net, day, tz, site_ids=sites, hours=_between(hours, n_lo, n_hi)
            )
            city_hours, city_daily = _air_inputs(hours, net, stations, h_lo, h_hi, day, tz)
            frames = {
                "aggregates_hourly": agg_h, "aqi_hourly": aqi_h, "aggregates_daily": daily["aggregates"],
                "aqi_daily": daily["aqi_daily"], "water_class": daily["water_class"],
                "noise_daily": daily["noise_daily"], "emission_totals": daily["emission_totals"],
                "outlet_hours_hourly": oh_h, "outlet_hours": daily["outlet_hours"],
                "outlet_days": daily["outlet_days"],
            }  # fmt: skip
            written = []
            for table, frame in frames.items():
                frame = _only(frame, sites)
                if frame.width:
                    out.write_named(frame.to_arrow(), _relpath(table, day, region))
                    written.append(table)
                rows[table] = rows.get(table, 0) + frame.height
            for table, frame in zip(CITY_INPUTS, (city_hours, city_daily), strict=True):
                if frame.width:
                    out.write_named(frame.to_arrow(), _relpath(table, day, region))
                    written.append(table)
            manifest = {"region": region, "day": day.isoformat(), "range": [h_lo.isoformat(), h_hi.isoformat()],
                        "sites": len(sites), "tables": written}  # fmt: skip
            _write_manifest(out, day, region, manifest)
    return {
        "region": region,
        "sites": len(sites),
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _relpath(table: str, day: date, region: str) -> str:
    return f"{table}/date={day.isoformat()}/region={region}.parquet"


def _write_manifest(out: LandingZone, day: date, region: str, manifest: dict[str, object]) -> None:
    import pyarrow as pa

    table = pa.table({"manifest": [json.dumps(manifest, sort_keys=True)]})
    out.write_named(table, _relpath("_manifest", day, region))


# ---------------------------------------------------------------- the writer task
def _read(out: LandingZone, table: str, day: date, region: str) -> pl.DataFrame:
    relpath = _relpath(table, day, region)
    try:
        frame = pl.from_arrow(pq.read_table(out.full_path(relpath), filesystem=out.fs))
    except FileNotFoundError:
        return pl.DataFrame()
    assert isinstance(frame, pl.DataFrame)
    return frame


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if f.width and f.height]
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()


def _empty_like(con: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    frame = pl.from_arrow(
        con.sql(f"SELECT * EXCLUDE (computed_at) FROM {table} LIMIT 0").to_arrow_table()
    )
    assert isinstance(frame, pl.DataFrame)
    return frame


def _city_rows(net: Network, tz: str, lo: datetime, hi: datetime, wides: pl.DataFrame,
               dailies: pl.DataFrame, reading: str) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
    """The city's aqi_hourly and aqi_daily rows from every region's station values (the same
    calls, on rows in the same order, as `hourly_frames` / `daily_frames` make)."""
    city_stations = net.city_stations()
    aqi_h = aqi_d = pl.DataFrame()
    if wides.height:
        wide = wides.sort("site", "period_start")
        city = air.city_hours(wide, city_stations)
        if city.height:
            aqi_h = air.aqi_hourly_rows(city, tz, lo, hi, reading=reading)
    if dailies.height:
        station_daily = dailies.sort("site")
        city = air.city_daily(station_daily, city_stations)
        if city.height:
            both = pl.concat([station_daily.head(0), city], how="diagonal_relaxed")
            aqi_d, _ = air.aqi_daily_rows(both)
    return aqi_h, aqi_d


def write_partitions(
    settings: Settings | None, start: datetime, end: datetime
) -> dict[str, object]:
    """Replace every region's rows, and the city's, of [start, end) with the partitions' rows."""
    settings = settings or get_settings()
    tz = settings.timezone
    lo, hi = periods.utc(start, "start"), periods.utc(end, "end")
    out = LandingZone(str(settings.home / PARTITIONS_DIR))
    report: dict[str, object] = {}
    with connect(settings, purpose="envmon write partitions") as con:
        regions = site_regions(con)
        expected = sorted(set(regions.values()))
        net = load_network(con, settings.config_dir)
        for day in _days(settings, lo, hi):
            done = {r for r in expected if _read(out, "_manifest", day, r).height}
            missing = sorted(set(expected) - done)
            if missing:
                raise PartitionError(
                    f"{day}: no partition written for region(s) {', '.join(missing)} under "
                    f"{out.full_path(f'_manifest/date={day.isoformat()}')}; run their partition tasks first"
                )
            d_lo, d_hi = local_day_range(day, tz)
            h_lo, h_hi = max(lo, d_lo), min(hi, d_hi)
            f = {
                t: _concat([_read(out, t, day, r) for r in expected])
                for t in (*HOURLY_TABLES, *DAILY_TABLES, *CITY_INPUTS)
            }
            aqi_city_h, aqi_city_d = _city_rows(
                net, tz, h_lo, h_hi, f["_city_hours"], f["_city_daily"], settings.aqi_realtime_reading
            )
            f["aqi_hourly"] = _concat([f["aqi_hourly"], aqi_city_h])
            f["aqi_daily"] = _concat([f["aqi_daily"], aqi_city_d])
            target = {"aggregates_hourly": "aggregates", "aggregates_daily": "aggregates",
                      "outlet_hours_hourly": "outlet_hours"}  # fmt: skip
            for t in (*HOURLY_TABLES, *DAILY_TABLES):
                if f[t].width == 0:
                    f[t] = _empty_like(con, target.get(t, t))
            sites = sorted(regions)
            with_city = [*sites, CITY]
            started = datetime.now(UTC)
            p = {"day": day, "sites": sites}
            hourly = write(con, "hourly", h_lo, h_hi, [
                Replace("aggregates", f["aggregates_hourly"],
                        "DELETE FROM aggregates WHERE statistic IN (SELECT unnest($stats)) AND period_start >= $lo "
                        "AND period_start < $hi AND site_id IN (SELECT unnest($sites))",
                        {"stats": list(HOURLY_STATISTICS), "lo": h_lo, "hi": h_hi, "sites": sites}),
                Replace("aqi_hourly", f["aqi_hourly"],
                        "DELETE FROM aqi_hourly WHERE period_start >= $lo AND period_start < $hi "
                        "AND site_id IN (SELECT unnest($sites))", {"lo": h_lo, "hi": h_hi, "sites": with_city}),
                Replace("outlet_hours", f["outlet_hours_hourly"],
                        "DELETE FROM outlet_hours WHERE period_start >= $lo AND period_start < $hi "
                        "AND site_id IN (SELECT unnest($sites))", {"lo": h_lo, "hi": h_hi, "sites": sites}),
            ], started)  # fmt: skip
            daily = write(con, "daily", d_lo, d_hi, [
                Replace("aggregates", f["aggregates_daily"],
                        """DELETE FROM aggregates a USING sites s WHERE a.site_id = s.site_id
                           AND a.statistic IN (SELECT unnest($stats)) AND a.site_id IN (SELECT unnest($sites))
                           AND CAST(timezone(s.timezone, a.period_start) AS DATE) = $day""",
                        {"stats": list(DAILY_STATISTICS), **p}),
                Replace("aqi_daily", f["aqi_daily"],
                        "DELETE FROM aqi_daily WHERE local_date = $day AND site_id IN (SELECT unnest($sites))",
                        {"day": day, "sites": with_city}),
                Replace("water_class", f["water_class"], "DELETE FROM water_class WHERE period = 'day' "
                        "AND period_start = $day AND site_id IN (SELECT unnest($sites))", p),
                Replace("noise_daily", f["noise_daily"],
                        "DELETE FROM noise_daily WHERE local_date = $day AND site_id IN (SELECT unnest($sites))", p),
                Replace("emission_totals", f["emission_totals"], "DELETE FROM emission_totals WHERE period = 'day' "
                        "AND period_start = $day AND site_id IN (SELECT unnest($sites))", p),
                Replace("outlet_hours", f["outlet_hours"],
                        "DELETE FROM outlet_hours WHERE period_start >= $lo AND period_start < $hi "
                        "AND site_id IN (SELECT unnest($sites))", {"lo": d_lo, "hi": d_hi, "sites": sites}),
                Replace("outlet_days", f["outlet_days"],
                        "DELETE FROM outlet_days WHERE period_start >= $lo AND period_start < $hi "
                        "AND site_id IN (SELECT unnest($sites))", {"lo": d_lo, "hi": d_hi, "sites": sites}),
            ], started)  # fmt: skip
            report[day.isoformat()] = {"regions": len(expected), "hourly": hourly, "daily": daily}
    return report
