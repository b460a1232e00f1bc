"""Replay the Beijing multi-site air-quality data (UCI PRSA, 2013-2017) as live station messages.

Each CSV row is one station-hour in Beijing time. The twelve station names map to the demo
air stations' site_ids (lower-cased pinyin). CO is given in ug/m3 in this data set; messages
say so ("unit": "ug/m3") and the ingestor converts to the registry's mg/m3, keeping the
original in `extra`. Missing values (NA) are left out of the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from core import periods
from core.errors import EnvmonError
from core.registry.config import Registry
from ingest.mqtt.topics import station_topic
from sim.station_simulator import SimMessage

BEIJING = ZoneInfo("Asia/Shanghai")
COLUMNS = {"PM2.5": "pm25", "PM10": "pm10", "SO2": "so2", "NO2": "no2", "CO": "co", "O3": "o3"}
UNITS = {"co": "ug/m3"}  # the others are in the registry's ug/m3 already


def _frames(directory: Path, registry: Registry) -> list[pd.DataFrame]:
    files = sorted(directory.glob("PRSA_Data_*.csv*"))
    if not files:
        raise EnvmonError(f"{directory}: no PRSA_Data_*.csv(.gz) files (the Beijing PRSA data set)")
    frames = []
    for f in files:
        df = pd.read_csv(f, usecols=["year", "month", "day", "hour", "station", *COLUMNS])
        station = str(df["station"].iloc[0])
        site_id = station.lower()
        if site_id not in registry.stations:
            raise EnvmonError(
                f"{f}: station {station!r} maps to site {site_id!r}, which is not in the registry"
            )
        df["site_id"] = site_id
        frames.append(df.rename(columns=COLUMNS))
    return frames


def beijing_messages(
    directory: str | Path,
    registry: Registry,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[SimMessage]:
    """Messages for every station-hour in [start, end) (naive times are Beijing time), in time order."""
    df = pd.concat(_frames(Path(directory), registry), ignore_index=True)
    local = pd.to_datetime(df[["year", "month", "day", "hour"]]).dt.tz_localize(BEIJING)
    df["period_start"] = local
    if start is not None:
        df = df[df["period_start"] >= pd.Timestamp(periods.from_local_input(start, BEIJING))]
    if end is not None:
        df = df[df["period_start"] < pd.Timestamp(periods.from_local_input(end, BEIJING))]
    df = df.sort_values(["period_start", "site_id"], kind="stable")
    for row in df.itertuples(index=False):
        values: dict[str, object] = {}
        for param in COLUMNS.values():
            v = getattr(row, param)
            if pd.isna(v):
                continue
            values[param] = (
                {"value": float(v), "unit": UNITS[param]} if param in UNITS else float(v)
            )
        if not values:
            continue
        ts = row.period_start.to_pydatetime()
        payload = {
            "site": row.site_id,
            "period_start": ts.isoformat(),
            "interval_s": 3600,
            "values": values,
        }
        yield SimMessage(
            station_topic("air", row.site_id),
            json.dumps(payload, separators=(",", ":")).encode(),
            ts,
            len(values),
        )
