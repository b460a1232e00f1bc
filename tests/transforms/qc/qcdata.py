"""Shared data of the QC tests: the test QC configuration, the tiny registry, reading rows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

QC_YAML = """
version: 1
future_tolerance_s: 300
auto_audit_grace_days: 3
transmission_efficiency: {interval_s: 3600, required: 0.90}
consistency:
  pm25_le_pm10: {site_kinds: [air], tolerance: 0.0, flag: suspect}
  o2_correction: {site_kinds: [outlet], o2_parameter: o2, o2_max_pct: 20.0, flag: fail}
parameters:
  pm25:
    air:
      gross_range: {instrument_min: 0, instrument_max: 1000}
      flat_line: {periods: 4}
      spike: {suspect_above: 100, fail_above: 400}
      rate_of_change: {max_per_hour: 300}
      non_positive: {allow_zero: true}
  pm10:
    air:
      gross_range: {instrument_min: 0, instrument_max: 2000}
  so2:
    outlet:
      unit: mg/m3
      gross_range: {instrument_min: 0, instrument_max: 500}
      non_positive: {allow_zero: false}
  o2:
    outlet:
      flat_line: {periods: 30}
"""

UNITS = [("ug/m3", "mass_concentration_gas", 0.001, "微克/立方米"), ("mg/m3", "mass_concentration_gas", 1.0, "毫克/立方米"),
         ("%", "fraction", 1.0, "百分比")]
PARAMETERS = [("pm25", "PM2.5", "细颗粒物", "air", "ug/m3", None, None, 0.0, 5000.0, 0),
              ("pm10", "PM10", "可吸入颗粒物", "air", "ug/m3", None, None, 0.0, 10000.0, 0),
              ("so2", "SO2", "二氧化硫", "air", "ug/m3", None, None, 0.0, 1.0e7, 0),
              ("o2", "O2", "氧含量", "flue_gas", "%", None, None, 0.0, 21.0, 2)]
AIR, OUTLET = "air_a", "plant_da001"


def site_row(site_id: str, kind: str, commissioned: date | None) -> tuple[Any, ...]:
    return (site_id, kind, site_id, site_id, "g1", None, "Asia/Shanghai", None, None, commissioned, None,
            None, None, None, None, None)


def reading(site: str, parameter: str, start: datetime, value: float | None, *, unit: str | None = None,
            flag: str | None = None, value_zs: float | None = None, interval_s: int = 3600,
            source_kind: str = "sim") -> dict[str, Any]:
    units = {"pm25": "ug/m3", "pm10": "ug/m3", "so2": "mg/m3", "o2": "%"}
    return {"site_id": site, "parameter": parameter, "period_start": start, "interval_s": interval_s,
            "source_kind": source_kind, "value": value, "value_zs": value_zs, "unit": unit or units[parameter],
            "flag": flag, "received_at": datetime(2024, 1, 1, tzinfo=UTC)}
