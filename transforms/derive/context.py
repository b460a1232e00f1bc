"""What the derivations need to know about the network, read once per job from the warehouse's
registry tables (sites, outlets, parameters, units, site_parameters, permitted_quantities)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import duckdb
import polars as pl

from core.errors import ConfigError

TABLES_DIR = Path(__file__).with_name("tables")

# When several source kinds report the same key, the first valid one in this order is used:
# staff-curated sources (laboratory results, file re-submissions) before the live protocol
# feeds (HJ 212, MQTT), simulators last. Unknown kinds sort after all of these.
SOURCE_PRIORITY = ("lab", "file", "hj212", "mqtt", "sim")

# Which hourly statistic a parameter's hour value is stored as (default: hour_avg). Noise levels
# are energy means (hour_leq); a maximum level has no hourly statistic in `aggregates`.
HOUR_STATISTIC = {"leq": "hour_leq", "lmax": None}
HOUR_COMBINE = {"leq": "energy", "lmax": "max"}  # default: arithmetic mean

CITY = "city"
LITRES_PER_M3 = 1000.0  # mg/L -> mg/m3 (a unit identity, not a standard's number)


@cache
def hour_min_minutes() -> dict[str, int]:
    """domain -> minimum minutes of valid data for an hourly value (tables/hour_validity.csv)."""
    with (TABLES_DIR / "hour_validity.csv").open(encoding="utf-8", newline="") as fh:
        return {r["domain"]: int(r["min_minutes"]) for r in csv.DictReader(fh)}


@dataclass(frozen=True)
class Network:
    sites: (
        pl.DataFrame
    )  # site_id, kind, timezone, commissioned_on, decommissioned_on, noise_zone, ...
    outlets: pl.DataFrame  # site_id, outlet_type, reference_o2_pct
    parameters: pl.DataFrame  # parameter, domain, unit
    units: pl.DataFrame  # unit, quantity, to_base
    site_parameters: pl.DataFrame  # site_id, parameter, interval_s
    site_units: dict[tuple[str, str], str]  # (site, parameter) -> unit the site reports in

    def site_ids(self, kind: str) -> list[str]:
        return self.sites.filter(pl.col("kind") == kind)["site_id"].sort().to_list()

    def city_stations(self) -> list[str]:
        f = self.sites.filter(
            (pl.col("kind") == "air") & pl.col("in_city_assessment").fill_null(False)
        )
        return f["site_id"].sort().to_list()

    # Lookups by dict: these are called per site and parameter (thousands at province scale).
    @cached_property
    def _parameter_units(self) -> dict[str, str]:
        return dict(zip(self.parameters["parameter"], self.parameters["unit"], strict=True))

    @cached_property
    def _site_units_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [(s, p, u) for (s, p), u in self.site_units.items()],
            schema={"site_id": pl.String, "parameter": pl.String, "site_unit": pl.String},
            orient="row",
        )

    def units_for(self, frame: pl.DataFrame) -> pl.Series:
        """`unit_of` for every (site_id, parameter) row of `frame`, in its order."""
        params = self.parameters.select("parameter", pl.col("unit").alias("parameter_unit"))
        return (
            frame.select("site_id", "parameter")
            .join(
                self._site_units_frame,
                on=["site_id", "parameter"],
                how="left",
                maintain_order="left",
            )
            .join(params, on="parameter", how="left", maintain_order="left")
            .select(pl.coalesce("site_unit", "parameter_unit").fill_null("").alias("unit"))
            .to_series()
        )

    def parameter_units(self) -> pl.DataFrame:
        """(site_id, parameter, unit, quantity, to_base) of every parameter a site reports."""
        pairs = (
            self.site_parameters.select("site_id", "parameter")
            .unique()
            .sort("site_id", "parameter")
        )
        return pairs.with_columns(self.units_for(pairs)).join(
            self.units.select("unit", "quantity", "to_base"),
            on="unit",
            how="left",
            maintain_order="left",
        )

    def unit_of(self, site_id: str, parameter: str) -> str:
        unit = self.site_units.get((site_id, parameter))
        if unit is not None:
            return unit
        return self._parameter_units.get(parameter, "")


def _frame(con: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql).to_arrow_table())  # type: ignore[return-value]


def load_network(con: duckdb.DuckDBPyConnection, config_dir: Path | None = None) -> Network:
    """Read the registry tables. Each site's own unit for a parameter (an outlet may report SO2
    in mg/m3 while the parameter's unit is ug/m3) is stored with site_parameters; rows stored
    before it was (migration 0080) take it from the registry configuration when it can be read."""
    sites = _frame(
        con,
        """SELECT s.site_id, s.kind, s.timezone, s.commissioned_on, s.decommissioned_on,
                  s.noise_zone, s.water_target_class, s.waterbody, s.in_city_assessment,
                  p.noise_standard, p.enterprise_id, p.indoor AS noise_indoor,
                  p.night_sudden_noise
           FROM sites s LEFT JOIN noise_points p USING (site_id) ORDER BY site_id""",
    )
    outlets = _frame(
        con, "SELECT site_id, outlet_type, reference_o2_pct FROM outlets ORDER BY site_id"
    )
    parameters = _frame(con, "SELECT parameter, domain, unit FROM parameters ORDER BY parameter")
    units = _frame(con, "SELECT unit, quantity, to_base FROM units ORDER BY unit")
    stored = _frame(
        con, "SELECT site_id, parameter, interval_s, unit FROM site_parameters ORDER BY ALL"
    )
    site_parameters = stored.drop("unit")
    site_units = {
        (site, parameter): unit
        for site, parameter, unit in stored.select("site_id", "parameter", "unit").iter_rows()
        if unit is not None
    }
    if config_dir is not None and stored["unit"].null_count():
        site_units = _units_from_config(config_dir)
    return Network(sites, outlets, parameters, units, site_parameters, site_units)


def _units_from_config(config_dir: Path) -> dict[tuple[str, str], str]:
    from core.registry.config import load_registry

    try:
        registry = load_registry(config_dir)
    except ConfigError:  # the stored registry still works; units then come from the readings
        return {}
    return {
        (site_id, measured.parameter): registry.site_unit(site_id, measured.parameter)
        for site_id in registry.site_ids
        for measured in registry.site_parameters(site_id)
    }
