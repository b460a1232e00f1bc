"""publish.render: the AQI legend of an edition (HJ 633-2012 levels 0–50 .. > 300), and pages
rendered with autoescaping always on (names come from configuration), no undefined name let
through, and the stylesheet inlined."""

from __future__ import annotations

import jinja2
import pytest
from _daily_fixture import DAY, SCRIPT_NAME, load_day

from publish import daily
from publish.render import environment, legend, render
from publish.vocabulary import contrast_ratio
from warehouse.db import connect


def test_legend_of_hj633_2012() -> None:
    rows = legend("HJ633-2012")
    assert [r["range"] for r in rows] == [
        "0–50",
        "51–100",
        "101–150",
        "151–200",
        "201–300",
        "> 300",
    ]
    assert [r["text"].level for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(contrast_ratio(r["fg"], r["text"].colour_hex) >= 4.5 for r in rows)


def test_autoescape_and_strict_undefined() -> None:
    env = environment()
    assert env.from_string("{{ name }}").render(name="<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()


def test_a_daily_page_escapes_names_and_carries_its_own_stylesheet(warehouse) -> None:  # type: ignore[no-untyped-def]
    load_day(warehouse)
    with connect(warehouse, write=False) as con:
        ctx = daily.daily_context(con, DAY, root="")
    page = render(
        "daily.html.j2", ctx=ctx, day=DAY, root="", rows=ctx["rows"], chart_data=ctx["chart"],
        calendar=ctx["calendar"], editions=ctx["editions"], computed_at="2017-01-02T11:04:05+08:00",
        levels=legend("HJ633-2012"), city_map=None, zone_label="Asia/Shanghai",
    ).decode("utf-8")  # fmt: skip
    assert (
        SCRIPT_NAME not in page
        and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;奥体中心" in page
    )
    assert "<style>" in page and "<link" not in page  # the page fetches nothing
    assert "2016-12-01" in page and "2017-01-02T11:04:05+08:00" in page
    assert "Asia/Shanghai" in page and "待核实" not in page and "UNCONFIRMED" not in page
