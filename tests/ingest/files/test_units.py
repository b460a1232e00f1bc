"""ingest.files.units: unit spellings found in files mapped to the registry's unit ids."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.registry.config import Registry, load_registry
from ingest.files.units import unit_aliases

CONFIG = Path(__file__).resolve().parents[3] / "config"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CONFIG)


def test_every_registry_unit_maps_to_itself(registry: Registry) -> None:
    aliases = unit_aliases(registry)
    for unit_id in registry.units:
        assert aliases[unit_id] == unit_id


def test_chinese_names_map_to_their_unit(registry: Registry) -> None:
    aliases = unit_aliases(registry)
    assert aliases["微克/立方米"] == "ug/m3"
    assert aliases["毫克/立方米"] == "mg/m3"
    assert aliases["毫克/升"] == "mg/L"
    assert aliases["摄氏度"] == "degC"
    assert aliases["无量纲"] == "pH"  # the registry's name of pH, also a common spelling


@pytest.mark.parametrize(
    ("written", "unit"),
    [
        ("µg/m³", "ug/m3"),  # micro sign U+00B5
        ("μg/m³", "ug/m3"),  # Greek mu U+03BC
        ("ug/m³", "ug/m3"),
        ("µg/m3", "ug/m3"),
        ("mg/m³", "mg/m3"),
        ("mg/l", "mg/L"),
        ("µg/L", "ug/L"),
        ("μg/l", "ug/L"),
        ("dB", "dB(A)"),
        ("dBA", "dB(A)"),
        ("db(a)", "dB(A)"),
        ("℃", "degC"),
        ("°C", "degC"),
        ("µS/cm", "uS/cm"),
    ],
)
def test_common_spellings(registry: Registry, written: str, unit: str) -> None:
    assert unit_aliases(registry)[written] == unit


def test_unknown_spellings_are_absent_not_guessed(registry: Registry) -> None:
    aliases = unit_aliases(registry)
    for written in ("ppm", "ug/m^3", "MG/L", "mg/Nm3", ""):
        assert written not in aliases


def test_a_common_spelling_of_a_unit_the_registry_lacks_is_left_out(registry: Registry) -> None:
    slim = replace(registry, units={k: v for k, v in registry.units.items() if k != "uS/cm"})
    aliases = unit_aliases(slim)
    assert "µS/cm" not in aliases and "uS/cm" not in aliases
    assert aliases["µg/m³"] == "ug/m3"


def test_the_profiles_own_aliases_win(registry: Registry) -> None:
    aliases = unit_aliases(registry, {"ppb": "ug/m3", "dB": "dB(A)", "微克/立方米": "mg/m3"})
    assert aliases["ppb"] == "ug/m3"
    assert aliases["微克/立方米"] == "mg/m3"  # a profile may override a built-in spelling
    assert unit_aliases(registry)["微克/立方米"] == "ug/m3"  # and the default is untouched
