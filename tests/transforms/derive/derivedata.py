"""Shared helpers of the derive tests (reading rows, read-only queries, a small network)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from core.settings import Settings
from transforms.derive.context import Network
from warehouse.db import connect

LOADED_AT = datetime(2024, 1, 1, tzinfo=UTC)


def reading(
    site: str,
    parameter: str,
    start: datetime,
    value: float | None,
    unit: str,
    interval_s: int = 3600,
    source_kind: str = "sim",
) -> dict[str, Any]:
    return {
        "site_id": site,
        "parameter": parameter,
        "period_start": start,
        "interval_s": interval_s,
        "source_kind": source_kind,
        "value": value,
        "unit": unit,
        "received_at": LOADED_AT,
    }


def query(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with connect(settings, write=False) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


def network(
    sites: list[tuple[str, str]],
    outlets: Sequence[tuple[str, str, float | None]] = (),
    parameters: Sequence[tuple[str, str, str]] = (),
    site_parameters: Sequence[tuple[str, str, int]] = (),
    tz: str = "Asia/Shanghai",
    noise_zone: dict[str, str] | None = None,
    water: dict[str, tuple[str, str]] | None = None,
) -> Network:
    """A small `Network` without a warehouse: sites (site_id, kind) in `tz` (air stations in the
    city assessment), outlets (site_id, outlet_type, reference_o2_pct), parameters (parameter,
    domain, unit), site_parameters (site_id, parameter, interval_s), noise points' zones and
    water sections' (waterbody, target class); units as config/registry/units.yaml has them."""
    zones, sections = noise_zone or {}, water or {}
    return Network(
        sites=pl.DataFrame(
            [(s, k, tz, k == "air", zones.get(s), *sections.get(s, (None, None))) for s, k in sites],
            schema={"site_id": pl.String, "kind": pl.String, "timezone": pl.String,
                    "in_city_assessment": pl.Boolean, "noise_zone": pl.String, "waterbody": pl.String,
                    "water_target_class": pl.String},
            orient="row",
        ),
        outlets=pl.DataFrame(
            list(outlets),
            schema={"site_id": pl.String, "outlet_type": pl.String, "reference_o2_pct": pl.Float64},
            orient="row",
        ),
        parameters=pl.DataFrame(
            list(parameters),
            schema={"parameter": pl.String, "domain": pl.String, "unit": pl.String},
            orient="row",
        ),
        units=pl.DataFrame(
            [("ug/m3", "mass_concentration_gas", 0.001), ("mg/m3", "mass_concentration_gas", 1.0),
             ("mg/L", "mass_concentration_liquid", 1.0), ("%", "fraction", 1.0),
             ("m3/h", "volume_flow", 1.0), ("L/s", "volume_flow", 3.6), ("dB(A)", "sound_level", 1.0)],
            schema={"unit": pl.String, "quantity": pl.String, "to_base": pl.Float64},
            orient="row",
        ),
        site_parameters=pl.DataFrame(
            list(site_parameters),
            schema={"site_id": pl.String, "parameter": pl.String, "interval_s": pl.Int32},
            orient="row",
        ),
        site_units={},
    )  # fmt: skip
