"""The SO2 two-hour rule the lifecycle tests evaluate, on the demo's coal-fired stack (its
permit limit: so2 hour_avg_o2 50 mg/m3, GB 13223-2011 表2)."""

from __future__ import annotations

from typing import Any

OUTLET = "huaneng_gaobeidian_da001"  # 华能北京热电厂 燃煤机组烟囱1号
RULE: dict[str, Any] = {
    "rule_id": "so2_two_hours",
    "family": "emission_exceedance",
    "name_zh": "二氧化硫超标",
    "name_en": "SO2 over the permit",
    "severity": "major",
    "kind": "threshold",
    "site_kinds": ["outlet"],
    "statistic": "hour_avg_o2",
    "parameters": ["so2"],
    "limit": {"source": "permit"},
    "duration": {"consecutive": 2},
    "clear_after": 2,
    "context_periods": 1,
    "opens_case": True,
    "repeat_every_h": 2,
}
