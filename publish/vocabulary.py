"""Bilingual labels (vocabulary.json) and the AQI level texts (transforms' standards tables)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from transforms.standards import tables

_VOCAB = Path(__file__).with_name("vocabulary.json")


@cache
def vocabulary() -> dict:
    return json.loads(_VOCAB.read_text(encoding="utf-8"))


DAYS_BY_LEVEL_EDITION = "HJ633-2012"  # the level names the day counts are labelled with


@cache
def columns() -> dict[str, list[str]]:
    """Column labels: vocabulary.json plus `days_level_<n>` named from the HJ 633 levels."""
    out = dict(vocabulary()["columns"])
    for lv in levels_of(DAYS_BY_LEVEL_EDITION):
        out[f"days_level_{lv.level}"] = [
            f"{lv.level_zh}（{lv.category_zh}）天数",
            f"Level {lv.roman} ({lv.category_en}) days",
        ]
    return out


def label(group: str, key: str) -> tuple[str, str]:
    """(Chinese, English) of `key` in `group` (columns, tables, case_states, labels ...)."""
    try:
        zh, en = columns()[key] if group == "columns" else vocabulary()[group][key]
    except KeyError:
        raise KeyError(f"vocabulary.json: no {group}.{key}") from None
    return zh, en


def header(key: str) -> str:
    """A CSV / XLSX column header: Chinese first, English beside, the column's name last."""
    zh, en = label("columns", key)
    return f"{zh} {en} [{key}]"


@dataclass(frozen=True)
class LevelText:
    edition: str
    level: int
    aqi_from: int
    aqi_to: int | None
    level_zh: str
    category_zh: str
    category_en: str
    colour_hex: str
    colour_zh: str
    colour_en: str
    health_effect_zh: str
    health_effect_en: str
    advice_zh: str
    advice_en: str
    status: str

    @property
    def unconfirmed(self) -> bool:
        return "UNCONFIRMED" in self.status

    @property
    def roman(self) -> str:
        return ("I", "II", "III", "IV", "V", "VI")[self.level - 1]


@cache
def level_text(edition: str, level: int) -> LevelText:
    """HJ 633 level, category, colour, health effects and advice (tables/aqi_levels.csv)."""
    row = tables.one("aqi_levels", edition=edition, level=str(level))
    return LevelText(
        edition=edition,
        level=level,
        aqi_from=int(row["aqi_from"]),
        aqi_to=int(row["aqi_to"]) if row["aqi_to"] else None,
        level_zh=row["level_zh"],
        category_zh=row["category_zh"],
        category_en=row["category_en"],
        colour_hex=row["colour_hex"],
        colour_zh=row["colour_zh"],
        colour_en=row["colour_en"],
        health_effect_zh=row["health_effect_zh"],
        health_effect_en=row["health_effect_en"],
        advice_zh=row["advice_zh"],
        advice_en=row["advice_en"],
        status=row["status"],
    )


@cache
def levels_of(edition: str) -> tuple[LevelText, ...]:
    return tuple(
        level_text(edition, int(r["level"])) for r in tables.rows("aqi_levels", edition=edition)
    )


@cache
def display_decimals(unit_suffix: str) -> int:
    """Decimals a concentration is shown with (the latest HJ 633 rounding rule of the unit)."""
    found = [r for r in tables.load("concentration_rounding") if r["unit"] == unit_suffix]
    if not found:
        raise LookupError(f"tables/concentration_rounding.csv: no row for unit {unit_suffix!r}")
    return int(max(found, key=lambda r: r["edition"])["decimals"])


def _luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB colour '#RRGGBB'."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def text_colour_on(background_hex: str) -> str:
    """Black or white, whichever reads better on `background_hex`."""
    return max(("#000000", "#FFFFFF"), key=lambda fg: contrast_ratio(fg, background_hex))
