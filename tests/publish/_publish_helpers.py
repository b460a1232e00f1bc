"""Helpers of the publishing tests: derived rows inserted directly into a warehouse, the way
the derivation and alerts stages would write them (AQI rows by the standards' own function)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from core.settings import Settings
from transforms.standards.air_reports import aqi_daily
from warehouse.db import connect

COMPUTED_AT = dt.datetime(2017, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[2]
# screenshots and published sites to look at: $ENVMON_TEST_ARTIFACTS, else test-artifacts/
# (git-ignored), under publish/
ARTIFACTS = Path(os.environ.get("ENVMON_TEST_ARTIFACTS") or REPO / "test-artifacts") / "publish"

# Low concentrations of everything but PM2.5, whose 24-h mean sets the AQI (HJ 633-2012):
# SO2 5 -> 5, NO2 20 -> 25, PM10 30 -> 30, CO 0.5 -> 13, O3 1-h 50 -> 16, O3 8-h 40 -> 20.
BACKGROUND = {
    "so2_24h_ugm3": 5.0,
    "no2_24h_ugm3": 20.0,
    "pm10_24h_ugm3": 30.0,
    "co_24h_mgm3": 0.5,
    "o3_1h_max_ugm3": 50.0,
    "o3_8h_max_ugm3": 40.0,
}


def insert_rows(con, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        cols = list(row)
        con.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
            [row[c] for c in cols],
        )


def daily_rows(
    pm25_by_site: Mapping[tuple[str, dt.date], float],
    invalid: Mapping[tuple[str, dt.date], tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """aqi_daily rows computed by the standards' own AQI function from PM2.5 24-h means;
    `invalid` gives a site-day a daily value that is invalid: (its column, the reason
    transforms.standards.air_daily writes, e.g. "so2: 17 valid hours < 20 required")."""
    invalid = invalid or {}
    frame = pl.DataFrame(
        [
            {"site": site, "date": day, "pm25_24h_ugm3": float(pm25), **BACKGROUND}
            | ({invalid[(site, day)][0]: None} if (site, day) in invalid else {})
            | {"invalid_reasons": invalid[(site, day)][1] if (site, day) in invalid else None}
            for (site, day), pm25 in pm25_by_site.items()
        ],
        schema_overrides={"invalid_reasons": pl.String},
    )
    out = aqi_daily(frame)
    rows = []
    for r in out.iter_rows(named=True):
        rows.append(
            {
                "site_id": r["site"],
                "scope": "city" if r["site"] == "city" else "station",
                "local_date": r["date"],
                "edition": r["edition"],
                "aqi": r["aqi"],
                "level": r["level"],
                "category": r["category"],
                "category_en": r["category_en"],
                "colour_hex": r["colour_hex"],
                "primary_pollutants": r["primary_pollutants"],
                "exceeding_pollutants": r["exceeding_pollutants"],
                **{
                    f"iaqi_{p}": r[f"iaqi_{p}"]
                    for p in ("so2", "no2", "pm10", "pm25", "co", "o3_1h", "o3_8h")
                },
                **{c: r[c] for c in (*BACKGROUND, "pm25_24h_ugm3")},
                "valid": r["valid"],
                "invalid_reasons": r["invalid_reasons"],
                "computed_at": COMPUTED_AT,
            }
        )
    return rows


def insert_daily(
    settings: Settings,
    pm25_by_site: Mapping[tuple[str, dt.date], float],
    invalid: Mapping[tuple[str, dt.date], tuple[str, str]] | None = None,
) -> None:
    with connect(settings, purpose="test fixture") as con:
        insert_rows(con, "aqi_daily", daily_rows(pm25_by_site, invalid))


def air_station_ids(settings: Settings) -> list[str]:
    with connect(settings, write=False) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT site_id FROM sites WHERE kind = 'air' ORDER BY 1"
            ).fetchall()
        ]


def open_offline(browser, url: str, width: int = 1280, scripts: bool = True):
    """A page whose every non-file request is aborted and recorded, with console errors kept."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=scripts
    )
    attempted: list[str] = []
    errors: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.goto(url, wait_until="load")
    return context, page, attempted, errors
