"""Environmental standards as code: formulas here, the standards' numbers in ./tables (CSV).

Public API (stable; see each function's docstring):
- editions.edition_for(date, family) / edition_named(code)
- aqi.aqi_report(conc, edition, report)                  scalar HJ 633 report
- air_daily.daily_air_values(hourly, edition=None)        daily values + validity (GB 3095 / HJ 663)
- air_reports.aqi_daily(daily, edition=None)              daily AQI (vectorised)
- air_reports.aqi_hourly(hourly, edition=None)            real-time AQI (vectorised)
- air_statistics.monthly_air_statistics(daily, period)    HJ 663 month/year statistics
- air_statistics.comprehensive_index(stats)               综合指数
- water.water_class(frame) / water.classify(values)       GB 3838-2002 class
- noise.noise_levels(frame) / noise.energy_average(levels)
- emissions.o2_corrected(...), emissions.emission_load_kg_h(...), hourly_emissions, emission_totals
"""

from transforms.standards.air_daily import daily_air_values
from transforms.standards.air_reports import aqi_daily, aqi_hourly
from transforms.standards.air_statistics import comprehensive_index, monthly_air_statistics
from transforms.standards.editions import edition_for
from transforms.standards.emissions import emission_load_kg_h, o2_corrected
from transforms.standards.noise import noise_levels
from transforms.standards.water import water_class

__all__ = [
    "aqi_daily",
    "aqi_hourly",
    "comprehensive_index",
    "daily_air_values",
    "edition_for",
    "emission_load_kg_h",
    "monthly_air_statistics",
    "noise_levels",
    "o2_corrected",
    "water_class",
]
