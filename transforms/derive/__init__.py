"""Derived tables of migration 0050 (aggregates, aqi_hourly, aqi_daily, air_period_stats,
water_class, noise_daily, emission_totals, derivation_runs), rebuilt from QC-passed readings.

Jobs (one call each; `envmon aggregate` and the Airflow DAGs call these):
    derive_hourly(settings, start, end)    UTC hours [start, end)
    derive_daily(settings, day)            one local day
    derive_monthly(settings, month)        the local month starting on `month`
    derive_yearly(settings, year)          air statistics and annual means
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "DeriveReport": "transforms.derive.jobs",
    "derive_hourly": "transforms.derive.jobs",
    "derive_daily": "transforms.derive.jobs",
    "derive_monthly": "transforms.derive.jobs",
    "derive_yearly": "transforms.derive.jobs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
