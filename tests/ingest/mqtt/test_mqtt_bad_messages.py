"""Every kind of bad message lands in dead letters with its reason and is acknowledged; a
message makes one dead letter carrying all its reasons; redelivered duplicates leave no
duplicate rows."""

from __future__ import annotations

import json

import pytest
from _mqtt_helpers import LandingReader, ingestor_config, load_and_count, sender_publisher

from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import MqttIngestor
from warehouse.jobs import status_job

pytestmark = pytest.mark.network

T = "2024-05-01T08:00:00+08:00"


def msg(
    values: dict,
    site: str = "dongsi",
    period_start: object = T,
    interval_s: object = 3600,
    **more: object,
) -> bytes:
    body = {
        "site": site,
        "period_start": period_start,
        "interval_s": interval_s,
        "values": values,
        **more,
    }
    return json.dumps(body).encode()


AIR = "envmon/v1/air/dongsi"

# (topic, payload, dead-letter origin, reason text expected in the dead letter)
BAD = [
    (AIR, b"{not json", AIR, "invalid JSON: Expecting property name enclosed in double quotes"),
    (AIR, b"[1, 2]", AIR, "payload is a JSON array, expected an object"),
    (
        "envmon/v1/air/nowhere",
        msg({"pm25": 1}, site="nowhere"),
        "envmon/v1/air/nowhere",
        "unknown site 'nowhere': not in the registry",
    ),
    (
        AIR,
        msg({"pm25": 1}, site="tiantan"),
        AIR,
        "field 'site': 'tiantan' does not match the topic's site 'dongsi'",
    ),
    (
        "envmon/v1/water/dongsi",
        msg({"pm25": 1}),
        "envmon/v1/water/dongsi",
        "site 'dongsi' is a air site but was published under the 'water' topic",
    ),
    ("envmon/v1/soil/dongsi", msg({"pm25": 1}), "envmon/v1/soil/dongsi", "unknown kind 'soil'"),
    (
        AIR,
        msg({"pm25": 1}, period_start="yesterday"),
        AIR,
        "field 'period_start': 'yesterday' is not an ISO 8601 time",
    ),
    (
        AIR,
        msg({"pm25": 1}, period_start="2024-05-01T08:00:00"),
        AIR,
        "field 'period_start': '2024-05-01T08:00:00' has no UTC offset",
    ),
    (
        AIR,
        msg({"pm25": 1}, period_start="2099-01-01T00:00:00+08:00"),
        AIR,
        # the reading contract's wording (core/contract.py), in UTC, with the text as sent
        "field 'period_start': 2098-12-31T16:00:00+00:00 is in the future",
    ),
    (
        AIR,
        msg({"pm25": 1}, period_start=1714521600),
        AIR,
        "field 'period_start': expected an ISO 8601 string with offset, got int",
    ),
    (
        AIR,
        msg({"pm25": 1}, interval_s="3600"),
        AIR,
        "field 'interval_s': expected an integer number of seconds, got string",
    ),
    (
        AIR,
        msg({"pm25": 1}, interval_s=7),
        AIR,
        "field 'interval_s': 7 is not 0 (real-time) or a divisor of a day",
    ),
    (AIR, msg({}), AIR, "field 'values': expected a non-empty object"),
    (AIR, msg({"pm25": 1}, station="x"), AIR, "unknown field(s) 'station'"),
    ("envmon/v1/hj212/NOSUCHMN", b"##garbage", "envmon/v1/hj212/NOSUCHMN", "invalid HJ 212 packet"),
]

# One message, some good and some bad values: the good ones land; the bad ones are in the
# message's ONE dead letter (origin: the topic), with every reason.
MIXED = msg(
    {
        "pm25": {"value": 35, "flag": "N"},
        "no2": 40,
        "xyz": 1,
        "ph": 7.1,
        "co": {"value": 1.0, "unit": "dB(A)"},
        "so2": {"value": "12"},
        "o3": {"value": 80, "flag": "Q"},
        "pm10": {"value": 90, "unit": "furlongs"},
    }
)
MIXED_BAD = [
    "6 value(s) refused, 2 taken: ",
    "parameter 'xyz': unknown parameter",
    "parameter 'ph': not measured at site 'dongsi'",
    "parameter 'co': unit 'dB(A)' cannot be converted to the site unit 'mg/m3'",
    "parameter 'so2': field 'value': string '12' is not a number",
    "parameter 'o3': field 'flag': 'Q' is not a data flag",
    "parameter 'pm10': unknown unit 'furlongs'",
]


def test_bad_messages_dead_lettered_with_reason(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    ingestor = MqttIngestor(
        ingestor_config(broker, client_id="bad", batch_wait_s=0.05),
        registry,
        LandingZone(settings.landing_root),
    )
    ingestor.start()
    assert ingestor.connected.wait(15)
    pub = sender_publisher(broker)
    pub.wait_connected()
    stream = [(t, p) for t, p, _, _ in BAD] + [(AIR, MIXED)]
    pub.publish_all(stream * 2)  # everything twice: a redelivery must change nothing
    pub.close()
    n_dead = len(BAD) + 1
    landing.wait_for(lambda r: len(r.dead) >= 2 * n_dead and len(r.keys) >= 2)
    ingestor.stop()
    assert ingestor.stats.acked == 2 * len(
        stream
    )  # bad messages are acknowledged: they do not loop

    counts = load_and_count(settings)
    assert counts.readings == 2 and counts.distinct_keys == 2  # pm25 and no2 of the mixed message
    assert counts.report.rows_duplicate == 2  # their redelivered copies collapsed
    assert counts.conflicts == 0
    assert len(counts.dead_letters) == n_dead  # the copies of dead letters collapse too
    reasons: dict[str, list[str]] = {}
    for origin, reason in counts.dead_letters:
        reasons.setdefault(origin, []).append(reason)
    for _, _, origin, expected in BAD:
        assert any(expected in r for r in reasons.get(origin, [])), (
            origin,
            expected,
            reasons.get(origin),
        )
    mixed = [r for r in reasons[AIR] if r.startswith(MIXED_BAD[0])]
    assert len(mixed) == 1, reasons[AIR]  # one dead letter for the message, not one per value
    for expected in MIXED_BAD:
        assert expected in mixed[0], (expected, mixed[0])
    raw = {d["reason"]: d["raw"] for d in landing.dead}
    assert raw[mixed[0]] == MIXED  # the payload exactly as received, once
    assert status_job(settings).dead_letters_waiting == {"mqtt": n_dead}
