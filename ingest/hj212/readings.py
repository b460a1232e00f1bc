"""Turn parsed data packets into rows of envmon.schema.READINGS_SCHEMA."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from envmon.schema import (
    INTERVAL_DAY_S,
    INTERVAL_HOUR_S,
    INTERVAL_MINUTE_S,
    INTERVAL_REALTIME_S,
    READINGS_SCHEMA,
)
from ingest.hj212.codes import map_code
from ingest.hj212.packet import Packet

# CN -> averaging interval. Minute data are taken as 1-minute values unless configured
# (HJ 212 minute data may be 1..30 min: MinInterval, CN 1063).
INTERVAL_BY_CN = {
    "2011": INTERVAL_REALTIME_S,
    "2051": INTERVAL_MINUTE_S,
    "2061": INTERVAL_HOUR_S,
    "2031": INTERVAL_DAY_S,
}
_MAIN = {"value": ("Rtd", "Avg"), "value_zs": ("ZsRtd", "ZsAvg")}
_COLUMN = {"Min": "value_min", "Max": "value_max", "Cou": "value_cou"}

SiteLookup = Mapping[str, str] | Callable[[str], str | None]


@dataclass
class ReadingsResult:
    rows: list[dict] = field(default_factory=list)
    unknown_codes: list[str] = field(default_factory=list)  # codes with no parameter mapping
    unknown_mn: str | None = None  # set when the MN has no site: no rows were made
    skipped: str | None = None  # why the packet gave no readings (not a data packet...)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=READINGS_SCHEMA)


def _site(site_of: SiteLookup | None, mn: str) -> str | None:
    if site_of is None:
        return mn
    if callable(site_of):
        return site_of(mn)
    return site_of.get(mn)


def packet_to_readings(
    packet: Packet,
    site_of: SiteLookup | None = None,
    received_at: datetime | None = None,
    minute_interval_s: int = INTERVAL_MINUTE_S,
) -> ReadingsResult:
    """Readings of one data packet (CN 2011/2051/2061/2031), one row per mapped pollutant.

    site_of maps MN -> site_id (dict or callable; None = use the MN itself).
    """
    out = ReadingsResult()
    interval = INTERVAL_BY_CN.get(packet.cn)
    if interval is None:
        out.skipped = f"CN {packet.cn} carries no readings"
        return out
    if packet.cn == "2051":
        interval = minute_interval_s
    if packet.datatime is None:
        out.skipped = "data packet without DataTime"
        return out
    site = _site(site_of, packet.mn or "")
    if site is None:
        out.unknown_mn = packet.mn
        return out
    received = (received_at or datetime.now(UTC)).astimezone(UTC)
    start = packet.datatime.astimezone(UTC)
    pollutants = packet.pollutants()
    for code, fields in pollutants.items():
        mapping = map_code(code, packet.st, pollutants)
        if mapping.info is None:
            out.unknown_codes.append(code)
            continue
        row: dict = {
            "site_id": site, "parameter": mapping.info.parameter, "period_start": start,
            "interval_s": interval, "source_kind": "hj212", "unit": mapping.info.unit,
            "value": None, "value_min": None, "value_max": None, "value_zs": None,
            "value_cou": None, "flag": None, "received_at": received,
            "origin": f"hj212:{packet.mn}:{packet.qn or ''}",
        }  # fmt: skip
        extra: dict[str, str] = {}
        for suffix, f in fields.items():
            column = _COLUMN.get(suffix) or next((c for c, s in _MAIN.items() if suffix in s), None)
            if suffix == "Flag":
                row["flag"] = f.text
            elif column is not None and row[column] is None and f.value is not None:
                row[column] = f.value
            else:
                extra[suffix] = f.text
        extra["code"] = code  # the raw code as sent (2005 or 2017 edition)
        row["extra"] = json.dumps(extra, ensure_ascii=False, sort_keys=True)
        out.rows.append(row)
    return out


def packets_to_readings(
    packets: Iterable[Packet], site_of: SiteLookup | None = None, received_at: datetime | None = None
) -> tuple[pa.Table, list[ReadingsResult]]:
    """Readings of many packets as one READINGS_SCHEMA table, plus each packet's result."""
    results = [packet_to_readings(p, site_of, received_at) for p in packets]
    rows = [r for res in results for r in res.rows]
    return pa.Table.from_pylist(rows, schema=READINGS_SCHEMA), results
