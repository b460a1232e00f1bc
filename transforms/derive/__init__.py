"""Derived tables of migration 0050 (aggregates, aqi_hourly, aqi_daily, air_period_stats,
water_class, noise_daily, emission_totals, derivation_runs), rebuilt from QC-passed readings.

Jobs (one call each; `envmon aggregate` and the pipeline's stages import them from here), each
rebuilding the derived rows of its period (never "now") in one transaction:
    derive_hourly(settings, start, end)    UTC hours [start, end)               .hourly
    derive_daily(settings, day)            one local day                        .daily
    derive_monthly(settings, month)        the local month starting on `month`  .monthly_yearly
    derive_yearly(settings, year)          air statistics and annual means      .monthly_yearly
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DeriveReport": "transforms.derive.store",
    "derive_hourly": "transforms.derive.hourly",
    "derive_daily": "transforms.derive.daily",
    "derive_monthly": "transforms.derive.monthly_yearly",
    "derive_yearly": "transforms.derive.monthly_yearly",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
