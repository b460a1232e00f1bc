"""Loader of the Beijing multi-site PRSA hourly data set (UCI) into the standards' hourly
vocabulary (transforms.standards: site, period_start, so2_ugm3 … co_mgm3).

Used by the tests and the AQI benchmark as real data. The files' hour h is local Beijing time; it is
read as the START of the hour. CO is in µg/m³ in the files and converted to mg/m³ here.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

PRSA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data/beijing_prsa"
_POLLUTANTS = {
    "SO2": "so2_ugm3",
    "NO2": "no2_ugm3",
    "PM10": "pm10_ugm3",
    "PM2.5": "pm25_ugm3",
    "O3": "o3_ugm3",
}


def load_prsa(directory: Path = PRSA_DIR) -> pl.DataFrame:
    """All stations: site, period_start (Asia/Shanghai), so2_ugm3 … o3_ugm3, co_mgm3."""
    files = sorted(directory.glob("PRSA_Data_*.csv.gz"))
    if not files:
        raise FileNotFoundError(f"no PRSA_Data_*.csv.gz in {directory}")
    cols = ["year", "month", "day", "hour", "station", "CO", *_POLLUTANTS]
    frames = [
        pl.read_csv(
            f,
            columns=cols,
            null_values="NA",
            schema_overrides={c: pl.Float64 for c in ["CO", *_POLLUTANTS]},
        )
        for f in files
    ]
    raw = pl.concat(frames)
    return raw.select(
        pl.col("station").alias("site"),
        pl.datetime("year", "month", "day", "hour", time_zone="Asia/Shanghai").alias(
            "period_start"
        ),
        *[pl.col(k).alias(v) for k, v in _POLLUTANTS.items()],
        (pl.col("CO") / 1000.0).alias("co_mgm3"),
    ).sort("site", "period_start")
