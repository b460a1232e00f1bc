"""The readings contract shared by every ingestor, the landing zone and the warehouse.

One row is one value of one parameter at one site for one period. Its natural key is
(site_id, parameter, period_start, interval_s, source_kind). Column names carry their unit
where they have one; `value` is in `unit`, which is the registry's unit for the parameter.
"""

from __future__ import annotations

import pyarrow as pa

# Averaging intervals, in seconds. 0 marks an instantaneous (HJ 212 "real-time") value.
INTERVAL_REALTIME_S = 0
INTERVAL_MINUTE_S = 60
INTERVAL_HOUR_S = 3600
INTERVAL_DAY_S = 86400

# Where a reading came from; part of the natural key so one source never overwrites another.
SOURCE_KINDS = ("mqtt", "hj212", "file", "lab", "sim")

NATURAL_KEY = ("site_id", "parameter", "period_start", "interval_s", "source_kind")

TS = pa.timestamp("us", tz="UTC")

READINGS_SCHEMA = pa.schema(
    [
        pa.field("site_id", pa.string(), nullable=False),
        pa.field("parameter", pa.string(), nullable=False),
        pa.field("period_start", TS, nullable=False),
        pa.field("interval_s", pa.int32(), nullable=False),
        pa.field("source_kind", pa.string(), nullable=False),
        pa.field("value", pa.float64()),  # the value (HJ 212: Rtd or Avg); null = not reported
        pa.field("value_min", pa.float64()),  # HJ 212 -Min over the interval
        pa.field("value_max", pa.float64()),  # HJ 212 -Max over the interval
        pa.field("value_zs", pa.float64()),  # HJ 212 -ZsRtd/-ZsAvg: O2-corrected (折算) value
        pa.field("value_cou", pa.float64()),  # HJ 212 -Cou: cumulative amount over the interval
        pa.field("unit", pa.string(), nullable=False),
        pa.field("flag", pa.string()),  # the source's own data flag (HJ 212 N, F, M, S, D, C, T, B...)
        pa.field("received_at", TS, nullable=False),
        pa.field("origin", pa.string()),  # where to find the raw input: topic, peer+QN, file:line
        pa.field("extra", pa.string()),  # JSON of further source fields (EFlag, SampleTime, ZsMin...)
    ]
)

READING_COLUMNS = tuple(READINGS_SCHEMA.names)

DEAD_LETTER_SCHEMA = pa.schema(
    [
        pa.field("dead_letter_id", pa.string(), nullable=False),
        pa.field("source_kind", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # topic / peer / file:line
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.binary()),  # the bytes exactly as received
        pa.field("received_at", TS, nullable=False),
    ]
)

# HJ 212 CN 2021 run status / CN 2072 alarms, as ingest/hj212/events.py builds them
LOGGER_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("site_id", pa.string(), nullable=False),
        pa.field("mn", pa.string()),
        pa.field("cn", pa.string(), nullable=False),
        pa.field("event_time", TS, nullable=False),  # period start / instant, UTC
        pa.field("kind", pa.string(), nullable=False),  # run_status | alarm
        pa.field("code", pa.string()),  # facility (SB1...) or pollutant code
        pa.field("status_code", pa.int32()),  # run_status: RS value
        pa.field("alarm_type", pa.string()),  # alarm: AlarmType as sent
        pa.field("received_at", TS, nullable=False),
        pa.field("origin", pa.string()),
        pa.field("extra", pa.string()),  # JSON of every other field
    ]
)
