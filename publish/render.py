"""Rendering pages: Jinja2 templates (package data) with autoescaping on, always."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from publish.vocabulary import columns, levels_of, text_colour_on, vocabulary

TEMPLATES = Path(__file__).with_name("templates")
WEEKDAYS = (
    ("一", "Mon"), ("二", "Tue"), ("三", "Wed"), ("四", "Thu"), ("五", "Fri"), ("六", "Sat"), ("日", "Sun"),
)  # fmt: skip


@cache
def environment() -> Environment:
    # autoescape=True for every template: names come from configuration and are untrusted
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    return env


@cache
def _css() -> Markup:
    # our own stylesheet, inlined so the page fetches nothing
    return Markup((TEMPLATES / "style.css").read_text(encoding="utf-8"))


def legend(edition: str) -> list[dict[str, Any]]:
    out = []
    for lv in levels_of(edition):
        upper = "" if lv.aqi_to is None else str(lv.aqi_to)
        rng = f"{lv.aqi_from}–{upper}" if upper else f"> {lv.aqi_from - 1}"
        out.append({"text": lv, "range": rng, "fg": text_colour_on(lv.colour_hex)})
    return out


def render(template: str, **context: Any) -> bytes:
    vocab = vocabulary()
    base = {
        "css": _css(),
        "columns": columns(),
        "labels": vocab["labels"],
        "states": vocab["states"],
        "weekdays": WEEKDAYS,
    }
    html = environment().get_template(template).render(**base, **context)
    return html.encode("utf-8")
