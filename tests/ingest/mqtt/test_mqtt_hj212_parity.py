"""HJ 212 over MQTT lands what HJ 212 over TCP lands (review I3), and its dead letters hold no
password, neither in their bytes nor in their id (review I1, I9).

The parity test sends the same packets through the real Mosquitto to the MQTT ingestor and over
a loopback socket to the HJ 212 server, each into its own landing zone, and compares the rows:
the registry's 10-minute, end-labelled logger (datang_gaojing_da001, config/registry/
enterprises.yaml: minute_interval_s 600, hour_label end) lands its minute data one interval
before the DataTime sent with interval_s 600, its hourly data one hour before; its flue-gas flow,
sent in m3/s (HJ 212-2017 Table B.2, code a00000), lands in the site's m3/h; its running status
(CN 2021) lands as logger events; a value of Infinity is refused with a dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _mqtt_helpers import ingestor_config, load_and_count, sender_publisher

from core.landing import DEAD_LETTERS, LOGGER_EVENTS, READINGS, LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.hj212.auth import MASK_NOTE, mask_passwords
from ingest.hj212.protocol import DEFAULT_TZ, StreamFramer, format_time, frame, try_parse
from ingest.hj212.server import Hj212Server, ServerConfig
from ingest.mqtt import ingestor as ingestor_module
from ingest.mqtt.batch import Batch
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor
from ingest.mqtt.topics import hj212_topic
from warehouse.db import connect

pytestmark = pytest.mark.network

END_SITE = "datang_gaojing_da001"  # logger G11010006744365446081: 600 s minutes, end-labelled
START_SITE = "huaneng_gaobeidian_da001"  # logger G11010001883490606930: the 2017 defaults


def logger(registry: Registry, site_id: str) -> tuple[str, str]:
    lg = registry.outlets[site_id][1].logger
    return lg.mn, lg.password


def packet(mn: str, pw: str, cn: str, at: datetime, cp: str, qn: str) -> bytes:
    """A flue-gas (ST 31) packet asking for an answer (Flag 5), DataTime in Beijing time."""
    text = f"QN={qn};ST=31;CN={cn};PW={pw};MN={mn};Flag=5;CP=&&DataTime={format_time(at)};{cp}&&"
    return frame(text.encode())


def expected_id(origin: str, raw: bytes) -> str:
    """The dead-letter id worked by hand: SHA-256 over (origin, empty reason, raw bytes), each
    length-prefixed (8 bytes, big-endian), first 32 hex digits (ingest/mqtt/batch.py)."""
    h = hashlib.sha256()
    for part in (origin.encode(), b"", raw):
        h.update(len(part).to_bytes(8, "big") + part)
    return h.hexdigest()[:32]


def ingestor_config_offline(**kwargs: object) -> IngestorConfig:
    """A config for an ingestor that is never started (its decoding only)."""
    return IngestorConfig(host="127.0.0.1", port=1, **kwargs)  # type: ignore[arg-type]


# -- dead letters: no password in the bytes, none in the id (I1, I9) --------------------------


def test_dead_letter_ids_hold_no_password(
    settings: Settings,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mn, pw = logger(registry, START_SITE)
    topic = hj212_topic(mn)
    at = datetime(2026, 11, 30, 8, 0, tzinfo=DEFAULT_TZ)
    ingestor = MqttIngestor(  # not started: the decoding of single messages, no broker needed
        ingestor_config_offline(max_payload_bytes=600), registry, LandingZone(settings.landing_root)
    )
    now_us = time.time_ns() // 1000

    def dead_of(payload: bytes, on: str = topic) -> dict:
        batch = Batch()
        ingestor._decode(batch, on.encode(), payload, now_us)
        assert len(batch.dead_letters) == 1 and not batch.tables()
        return batch.dead_letters[0]

    # Two packets differing only in their (wrong) password: one stored raw, one id.
    guesses = ["111111", "222222"]
    assert pw not in guesses
    sent = [packet(mn, g, "2061", at, "a21026-Avg=12.5,a21026-Flag=N", "1") for g in guesses]
    letters = [dead_of(p) for p in sent]
    assert letters[0]["raw"] == letters[1]["raw"]
    assert letters[0]["dead_letter_id"] == letters[1]["dead_letter_id"]
    for sent_raw, d in zip(sent, letters, strict=True):
        assert b"PW=******" in d["raw"] and b"111111" not in d["raw"] and b"222222" not in d["raw"]
        assert d["raw"].endswith(b"&&****\r\n")  # the CRC over the real password is masked too
        assert d["dead_letter_id"] == expected_id(topic, d["raw"])  # the stored bytes' hash
        assert d["dead_letter_id"] != expected_id(topic, sent_raw)  # not the sent bytes' hash
        assert "wrong password (PW)" in d["reason"] and d["reason"].endswith(MASK_NOTE)

    # Oversized (max 600 bytes here): the first 600 bytes kept, masked; the id is the whole
    # masked payload's, so it too is the same whatever the password.
    big = [
        packet(mn, g, "2061", at, "a21026-Avg=12.5,a21026-Flag=N" + ",x=1" * 200, "2")
        for g in guesses
    ]
    assert all(len(b) > 600 for b in big)
    letters = [dead_of(p) for p in big]
    assert letters[0]["dead_letter_id"] == letters[1]["dead_letter_id"]
    for sent_raw, d in zip(big, letters, strict=True):
        assert len(d["raw"]) == 600 and b"PW=******" in d["raw"]
        assert b"111111" not in d["raw"] and b"222222" not in d["raw"]
        assert "more than the 600 allowed" in d["reason"] and d["reason"].endswith(MASK_NOTE)
        assert d["dead_letter_id"] == expected_id(topic, mask_passwords(sent_raw)[0])
        assert d["dead_letter_id"] != expected_id(topic, sent_raw)
    # One byte under the bound is decoded (refused for its password, kept whole).
    small = packet(mn, "111111", "2061", at, "a21026-Avg=12.5", "3")
    small = packet(mn, "111111", "2061", at, "a21026-Avg=12.5" + "," * (599 - len(small)), "3")
    assert len(small) == 599
    d = dead_of(small)
    assert len(d["raw"]) == 599 and "wrong password" in d["reason"]

    # The right password on a topic no HJ 212 logger has: still masked (every dead letter is).
    good = packet(mn, pw, "2061", at, "a21026-Avg=12.5", "4")
    for bad_topic in ("envmon/v1/hj212", f"envmon/v1/hj212/{mn}/x"):
        d = dead_of(good, bad_topic)
        assert pw.encode() not in d["raw"] and d["reason"].endswith(MASK_NOTE)

    # I9: an unexpected error while decoding dead-letters the message masked, and neither its
    # reason nor the log line repeat a password the error's text quotes.
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"a bug near PW={pw};MN")

    monkeypatch.setattr(ingestor_module, "hj212_payload_to_records", broken)
    caplog.set_level(logging.DEBUG, logger="envmon.mqtt")
    d = dead_of(good)
    assert d["reason"].startswith(
        "internal error while decoding: RuntimeError('a bug near PW=******;MN')"
    )
    assert d["reason"].endswith(MASK_NOTE) and pw not in d["reason"]
    assert pw.encode() not in d["raw"] and b"PW=******" in d["raw"]
    assert d["dead_letter_id"] == expected_id(topic, d["raw"])
    assert "unexpected error decoding" in caplog.text and pw not in caplog.text


# -- parity: the same packets over MQTT and over TCP (I3) --------------------------------------


def _table(root: Path, kind: str) -> list[dict]:
    zone = LandingZone(str(root))
    paths = zone.list_batches(kind)
    if not paths:
        return []
    return pa.concat_tables([pq.read_table(zone.full_path(p)) for p in paths]).to_pylist()


READING_COLUMNS = (
    "site_id", "parameter", "period_start", "interval_s", "source_kind", "value", "value_min",
    "value_max", "value_zs", "value_cou", "unit", "flag", "origin", "extra",
)  # fmt: skip
EVENT_COLUMNS = ("site_id", "mn", "cn", "event_time", "kind", "code", "status_code", "origin")


def _rows(rows: list[dict], columns: tuple[str, ...]) -> set[tuple]:
    return {tuple(r[c] for c in columns) for r in rows}


async def _over_tcp(
    settings: Settings, registry: Registry, root: Path, streams: list[list[bytes]]
) -> None:
    cfg = ServerConfig(host="127.0.0.1", port=0, batch_wait_s=0.05, backfill=False)
    server = Hj212Server(cfg, registry, LandingZone(str(root)), settings.home, settings.tz)
    await server.start()
    try:
        assert server._server is not None
        port = server._server.sockets[0].getsockname()[1]
        for stream in streams:  # one connection per logger; every packet asked for an answer
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"".join(stream))
            await writer.drain()
            framer, answers = StreamFramer(), 0
            while answers < len(stream):  # answered only once its batch is durable
                data = await asyncio.wait_for(reader.read(65536), 20)
                assert data, "the server closed the connection"
                for record in framer.feed(data):
                    assert try_parse(record, max_future=None).ok
                    answers += 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    finally:
        await server.stop()


def test_hj212_over_mqtt_lands_what_tcp_lands(
    broker: Broker, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    end_mn, end_pw = logger(registry, END_SITE)
    start_mn, start_pw = logger(registry, START_SITE)
    hour = (datetime.now(UTC) - timedelta(hours=5)).astimezone(DEFAULT_TZ)
    hour = hour.replace(minute=0, second=0, microsecond=0)
    flow = "a00000-Avg=12.5,a00000-Cou=7500,a00000-Flag=N"
    end_stream = [  # the 10-minute, end-labelled logger
        packet(end_mn, end_pw, "2051", hour + timedelta(minutes=m),
               f"a21026-Avg={so2},a21026-Flag=N;{flow}", f"{m:04d}")
        for m, so2 in ((10, 21.5), (20, 22.5), (30, 23.5))
    ]  # fmt: skip
    end_stream += [
        packet(end_mn, end_pw, "2061", hour + timedelta(hours=1), f"a21026-Avg=22.0;{flow}", "61"),
        packet(end_mn, end_pw, "2021", hour + timedelta(minutes=30), "SB1-RS=1;SB2-RS=0", "21"),
        # Infinity for SO2: refused with a dead letter; the flow beside it lands
        packet(end_mn, end_pw, "2051", hour + timedelta(minutes=40),
               f"a21026-Avg=Infinity,a21026-Flag=N;{flow}", "0040"),
        # nothing but NaN: refused whole
        packet(end_mn, end_pw, "2051", hour + timedelta(minutes=50), "a21026-Avg=NaN", "0050"),
    ]  # fmt: skip
    start_stream = [  # the other side of the label: a start-labelled 60 s logger
        packet(start_mn, start_pw, "2051", hour + timedelta(minutes=1), "a21026-Avg=30.5", "1001"),
        packet(start_mn, start_pw, "2061", hour, "a21026-Avg=31.0", "1061"),
    ]

    asyncio.run(
        asyncio.wait_for(
            _over_tcp(settings, registry, tmp_path / "tcp", [end_stream, start_stream]), 90
        )
    )

    mqtt_root = Path(settings.landing_root)  # the warehouse loads it below
    ingestor = MqttIngestor(
        ingestor_config(broker, client_id="hj212-parity", batch_wait_s=0.05),
        registry,
        LandingZone(str(mqtt_root)),
    )
    ingestor.start()
    try:
        assert ingestor.connected.wait(15)
        pub = sender_publisher(broker)
        pub.wait_connected()
        sent = [(hj212_topic(end_mn), p) for p in end_stream]
        sent += [(hj212_topic(start_mn), p) for p in start_stream]
        pub.publish_all(sent)
        pub.close()
        deadline = time.monotonic() + 60
        while ingestor.stats.acked < len(sent):  # acknowledged once written durably
            assert time.monotonic() < deadline, ingestor.stats  # a hang guard
            time.sleep(0.1)
    finally:
        ingestor.stop()

    tcp_readings, mqtt_readings = _table(tmp_path / "tcp", READINGS), _table(mqtt_root, READINGS)
    assert _rows(mqtt_readings, READING_COLUMNS) == _rows(tcp_readings, READING_COLUMNS)
    assert len(mqtt_readings) == len(tcp_readings) == 11

    # The values, worked by hand: (site, parameter, period start, interval) -> (value, -Cou, unit)
    got = {
        (r["site_id"], r["parameter"], r["period_start"], r["interval_s"]): (
            r["value"], r["value_cou"], r["unit"], json.loads(r["extra"]),
        )
        for r in mqtt_readings
    }  # fmt: skip
    utc = hour.astimezone(UTC)
    for m, so2 in ((10, 21.5), (20, 22.5), (30, 23.5)):
        start = utc + timedelta(minutes=m - 10)  # end label 08:m0 -> the period 08:(m-10)0
        value, _, unit, extra = got[(END_SITE, "so2", start, 600)]
        assert (value, unit) == (so2, "mg/m3")
        assert extra["DataTime"] == format_time(hour + timedelta(minutes=m))
        # 12.5 m3/s x 3600 s/h = 45000 m3/h; the -Cou total (m3) is not a rate: kept as sent
        assert got[(END_SITE, "flue_flow", start, 600)][:3] == (45000.0, 7500.0, "m3/h")
    assert (END_SITE, "so2", utc + timedelta(minutes=30), 600) not in got  # Infinity: refused
    assert got[(END_SITE, "flue_flow", utc + timedelta(minutes=30), 600)][0] == 45000.0
    assert (END_SITE, "so2", utc + timedelta(minutes=40), 600) not in got  # NaN: refused
    assert got[(END_SITE, "so2", utc, 3600)][0] == 22.0  # the hour labelled by its end
    assert got[(END_SITE, "flue_flow", utc, 3600)][0] == 45000.0
    # start-labelled: the period starts at the DataTime sent; the minute is 60 s
    assert got[(START_SITE, "so2", utc + timedelta(minutes=1), 60)][0] == 30.5
    assert got[(START_SITE, "so2", utc, 3600)][0] == 31.0
    assert "DataTime" not in got[(START_SITE, "so2", utc, 3600)][3]

    # CN 2021: two logger events (SB1 running, SB2 stopped) at the DataTime (an instant).
    tcp_events = _table(tmp_path / "tcp", LOGGER_EVENTS)
    mqtt_events = _table(mqtt_root, LOGGER_EVENTS)
    assert _rows(mqtt_events, EVENT_COLUMNS) == _rows(tcp_events, EVENT_COLUMNS)
    assert {(e["code"], e["status_code"], e["event_time"]) for e in mqtt_events} == {
        ("SB1", 1, utc + timedelta(minutes=30)),
        ("SB2", 0, utc + timedelta(minutes=30)),
    }
    assert ingestor.stats.logger_events == 2
    # ... and load into the warehouse's logger_events with the readings
    assert load_and_count(settings).readings == 11
    with connect(settings, write=False) as con:
        loaded = con.execute("SELECT site_id, code, status_code FROM logger_events").fetchall()
    assert sorted(loaded) == [(END_SITE, "SB1", 1), (END_SITE, "SB2", 0)]

    # Infinity and NaN: one dead letter each, naming the field and the value, password masked.
    dead = _table(mqtt_root, DEAD_LETTERS)
    assert len(dead) == 2
    reasons = sorted(d["reason"] for d in dead)
    assert "so2 (a21026): field 'value': inf is not a finite number" in reasons[0]
    assert "so2 (a21026): field 'value': nan is not a finite number" in reasons[1]
    assert all(d["reason"].endswith(MASK_NOTE) and end_pw.encode() not in d["raw"] for d in dead)
