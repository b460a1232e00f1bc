"""Unit spellings found in files, mapped to the registry's unit ids."""

from __future__ import annotations

from collections.abc import Mapping

from core.registry.config import Registry

# Common spellings in exports and lab sheets (µ as micro sign or Greek mu, superscript ³).
_COMMON = {
    "µg/m³": "ug/m3", "μg/m³": "ug/m3", "ug/m³": "ug/m3", "µg/m3": "ug/m3", "μg/m3": "ug/m3",
    "mg/m³": "mg/m3", "mg/l": "mg/L", "µg/l": "ug/L", "μg/l": "ug/L", "µg/L": "ug/L", "μg/L": "ug/L",
    "db(a)": "dB(A)", "dba": "dB(A)", "db": "dB(A)", "dB": "dB(A)", "dBA": "dB(A)",
    "无量纲": "pH", "℃": "degC", "°C": "degC", "µS/cm": "uS/cm", "μS/cm": "uS/cm",
}


def unit_aliases(registry: Registry, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """Written unit -> registry unit: ids, Chinese names, common spellings, the profile's own."""
    out: dict[str, str] = {}
    for unit_id, unit in registry.units.items():
        out[unit_id] = unit_id
        if unit.name_zh:
            out.setdefault(unit.name_zh, unit_id)
    for written, unit_id in _COMMON.items():
        if unit_id in registry.units:
            out.setdefault(written, unit_id)
    out.update(extra)
    return out
