"""Helpers for the file-ingestion tests: landing readers and fixture-file writers."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from core.landing import DEAD_LETTERS, READINGS, LandingZone
from core.settings import Settings


def landing_readings(settings: Settings) -> pl.DataFrame:
    landing = LandingZone(settings.landing_root)
    frames = [pl.from_arrow(pq.read_table(landing.full_path(p))) for p in landing.list_batches(READINGS)]
    return pl.concat(frames) if frames else pl.DataFrame()


def landing_dead_letters(settings: Settings) -> list[dict]:
    landing = LandingZone(settings.landing_root)
    return [row for p in landing.list_batches(DEAD_LETTERS) for row in landing.read(p).to_pylist()]


def write(path: Path, text: str, encoding: str = "utf-8", gz: bool = False) -> Path:
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def jsonl(path: Path, objects: list[dict]) -> Path:
    path.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects), encoding="utf-8")
    return path
