"""Bilingual labels (vocabulary.json) and the AQI level texts (transforms' standards tables)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from transforms.standards import tables
from transforms.standards.aqi_rules import rule_set

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


def indicator_label(name: str) -> tuple[str, str]:
    """(Chinese, English) of an AQI indicator or pollutant name ('pm25', 'o3_8h')."""
    return label("indicators", name)


def primary_texts(primary: str | None) -> tuple[str, str] | None:
    """Primary pollutants as stored ('PM2.5;PM10') as people read them; None when there is none."""
    if not primary:
        return None
    # aqi_indicators.csv's primary_name is the indicator's name in capitals: 'PM2.5' = pm25
    names = [
        indicator_label(p.strip().lower().replace(".", "")) for p in primary.split(";") if p.strip()
    ]
    return "、".join(zh for zh, _ in names), ", ".join(en for _, en in names)


# the sentences transforms write: air_daily.daily_air_values, derive.air.city_daily, and the
# indicator names of aqi_frame's missing_indicators ("so2;pm25")
_REASONS = (
    (
        re.compile(r"(?P<ind>[a-z0-9_]+): (?P<n>\d+) valid hours < (?P<need>\d+) required"),
        "valid_hours",
    ),
    (
        re.compile(r"(?P<ind>[a-z0-9_]+): (?P<n>\d+) valid 8-h windows < (?P<need>\d+) required"),
        "valid_windows",
    ),
    (re.compile(r"(?P<ind>[a-z0-9_]+): no station with a valid value"), "no_station"),
    (re.compile(r"(?P<ind>[a-z0-9_]+)"), "missing"),
)


def reason_texts(reasons: str | None) -> list[tuple[str, str]]:
    """Why a report lacks an AQI, as (Chinese, English) sentences: `aqi_daily.invalid_reasons`
    ('so2: 17 valid hours < 20 required; ...') or `aqi_hourly.missing_indicators` ('so2;pm25').
    A reason of another form is an error naming it (it would otherwise reach the public raw)."""
    out = []
    for part in (reasons or "").split(";"):
        part = part.strip()
        if not part:
            continue
        for pattern, key in _REASONS:
            m = pattern.fullmatch(part)
            if m and m["ind"] in vocabulary()["indicators"]:
                fields = m.groupdict() | {"indicator": None}
                zh_t, en_t = label("reasons", key)
                zh_i, en_i = indicator_label(m["ind"])
                out.append(
                    (
                        zh_t.format(**(fields | {"indicator": zh_i})),
                        en_t.format(**(fields | {"indicator": en_i})),
                    )
                )
                break
        else:
            raise ValueError(
                f"reason {part!r} (in {reasons!r}): no sentence for it in vocabulary.json"
            )
    return out


def missing_rule_text(edition: str, report: str, aqi_shown: bool) -> tuple[str, str]:
    """The edition's rule for a report with a pollutant missing (tables/aqi_edition_rules.csv,
    `missing_indicator_policy`), as applied to a row whose AQI is (not) shown."""
    rules = rule_set(edition, report)
    if rules.missing_policy == "partial_if_above" and rules.partial_publish_above is not None:
        key = "rule_partial_shown" if aqi_shown else "rule_partial_hidden"
        above = f"{rules.partial_publish_above:g}"
    else:
        key, above = "rule_all_required", ""
    ed = edition.replace("HJ633-", "HJ 633-")
    zh, en = label("states", key)
    return zh.format(edition=ed, above=above), en.format(edition=ed, above=above)


def header(key: str) -> str:
    """A public CSV / XLSX column header: Chinese first, English beside (the JSON files keep
    the column names for programs)."""
    zh, en = label("columns", key)
    return f"{zh} {en}"


def column_of(text: str) -> str:
    """The column whose public header is `text` (the inverse of `header`)."""
    found = [k for k in columns() if header(k) == text]
    if len(found) != 1:
        raise KeyError(f"{text!r} is the header of {len(found)} columns in vocabulary.json")
    return found[0]


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
