"""Logger events of HJ 212 packets: CN 2021 running status (SBn-RS) and CN 2072 alarms.

One row per facility status (`SB1-RS=1` -> kind 'run_status', code 'SB1', status_code 1) and
one per alarm (`B01-Ala=16.00,AlarmType=1` -> kind 'alarm', code 'B01', alarm_type '1'), in
`LOGGER_EVENTS_SCHEMA`; every other field of the packet is kept in `extra` (JSON). They land
as the landing zone's `loggerevents` batches and load into the warehouse table `logger_events`
(warehouse/event_loader.py). Running status codes per HJ 212-2017 Table 10 (SBxxx-RS: 0 stopped,
1 running, 2 calibration, 3 maintenance, 4 alarm, 5 backflush) are kept as sent.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pyarrow as pa

from core.registry.logger_facts import LoggerFacts
from core.schema import LOGGER_EVENTS_SCHEMA
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import DEFAULT_TZ, parse_time
from ingest.hj212.readings import labelled_start, reading_origin

CN_RUN_STATUS = "2021"
CN_ALARM = "2072"
EVENT_CNS = frozenset({CN_RUN_STATUS, CN_ALARM})


class EventError(ValueError):
    """A 2021/2072 packet that gives no event (the reason names the field)."""


def packet_to_events(
    packet: Packet,
    site_id: str,
    received_at: datetime,
    facts: LoggerFacts | None = None,
    tz: tzinfo = DEFAULT_TZ,
) -> list[dict]:
    """The event rows of a 2021 / 2072 packet; EventError when it has no usable time or entry."""
    origin = reading_origin(packet.mn, packet.qn)
    received = received_at.astimezone(UTC)
    if packet.cn == CN_RUN_STATUS:
        if packet.datatime is None:
            raise EventError("CN 2021 run status without DataTime")
        at = labelled_start(packet.cn, packet.datatime, facts).astimezone(UTC)
        rows, extra = [], {}
        for f in packet.fields():
            if f.key == "DataTime":
                continue
            if f.field == "RS" and f.code:
                try:
                    status = int(f.text)
                except ValueError:
                    raise EventError(f"field {f.key}={f.text!r}: RS is not an integer") from None
                rows.append((f.code, status))
            else:
                extra[f.key] = f.text
        if not rows:
            raise EventError("CN 2021 run status without any SBn-RS field")
        text = json.dumps(extra, ensure_ascii=False, sort_keys=True)
        return [
            {"site_id": site_id, "mn": packet.mn, "cn": packet.cn, "event_time": at,
             "kind": "run_status", "code": code, "status_code": status, "alarm_type": None,
             "received_at": received, "origin": origin, "extra": text}
            for code, status in rows
        ]  # fmt: skip
    if packet.cn == CN_ALARM:
        when = packet.get("AlarmTime") or packet.get("DataTime")
        if not when:
            raise EventError("CN 2072 alarm without AlarmTime")
        try:
            at = parse_time(when, tz).astimezone(UTC)
        except ValueError:
            raise EventError(f"AlarmTime {when!r} is not a time (YYYYMMDDhhmmss)") from None
        extra, codes = {}, []
        for f in packet.fields():
            if f.key in ("AlarmTime", "AlarmType"):
                continue
            if f.field == "Ala" and f.code:
                codes.append(f.code)
            extra[f.key] = f.text
        text = json.dumps(extra, ensure_ascii=False, sort_keys=True)
        return [
            {"site_id": site_id, "mn": packet.mn, "cn": packet.cn, "event_time": at,
             "kind": "alarm", "code": code, "status_code": None,
             "alarm_type": packet.get("AlarmType"), "received_at": received, "origin": origin,
             "extra": text}
            for code in (codes or [None])
        ]  # fmt: skip
    raise EventError(f"CN {packet.cn} is not a logger event (2021 or 2072)")


def events_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=LOGGER_EVENTS_SCHEMA)


def append_event_log(state_dir: Path, entries: list[dict]) -> None:
    """Append entries to the HJ 212 event log (`<state_dir>/events/<UTC date>.jsonl`: packets that
    carry no readings, refusals worth keeping, lockouts), fsynced before return. The server and
    offline ingest (`onboarding`) both write it here."""
    if not entries:
        return
    directory = Path(state_dir) / "events"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in entries)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
