"""HJ 212 packets carried over MQTT (topic envmon/v1/hj212/{mn}): real packets built with the
HJ 212 library, parsed by it, landed as readings of the registry's outlets; bad packets
dead-lettered with their reason and acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from _mqtt_helpers import LandingReader, ingestor_config, load_and_count, sender_publisher

from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.hj212.auth import MASK_NOTE
from ingest.hj212.crc import crc16
from ingest.hj212.packet import CpField, Packet
from ingest.hj212.protocol import serialize
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import MqttIngestor
from ingest.mqtt.topics import hj212_topic
from warehouse.db import connect
from warehouse.jobs import status_job

pytestmark = pytest.mark.network

STACK = "huaneng_gaobeidian_da001"  # flue gas, logger G11010001883490606930 (enterprises.yaml)
OUTFALL = "yanshan_petrochem_dw001"  # waste water, logger W11010010330781753276


def logger(registry: Registry, site_id: str) -> tuple[str, str]:
    """(MN, password) of an outlet's logger, as registered."""
    lg = registry.outlets[site_id][1].logger
    return lg.mn, lg.password


def data_packet(
    mn: str,
    pw: str,
    st: str,
    cn: str,
    datatime: str,
    fields: list[tuple[str, str]],
    qn: str = "20240501080000123",
) -> bytes:
    cp = ((CpField("DataTime", datatime), *(CpField(k, v) for k, v in fields)),)
    return serialize(Packet(cn=cn, qn=qn, st=st, pw=pw, mn=mn, flag=5, cp=cp))


def with_bad_crc(packet: bytes) -> bytes:
    """The same packet with a CRC that is not the one of its data segment."""
    body, crc = packet[:-6], packet[-6:-2]
    assert crc == b"%04X" % crc16(body[6:])  # the library wrote the right one
    return body + (b"0000" if crc != b"0000" else b"FFFF") + b"\r\n"


def test_hj212_packets_over_mqtt(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    stack_mn, stack_pw = logger(registry, STACK)
    outfall_mn, outfall_pw = logger(registry, OUTFALL)
    # Hourly flue-gas data (CN 2061, ST 31) at 08:00 Beijing time = 00:00 UTC.
    stack_hour = data_packet(
        stack_mn,
        stack_pw,
        "31",
        "2061",
        "20240501080000",
        [
            ("a21026-Avg", "12.5"),
            ("a21026-ZsAvg", "14.1"),
            ("a21026-Min", "10.2"),
            ("a21026-Max", "15.0"),
            ("a21026-Flag", "N"),
            ("a21002-Avg", "41.0"),
            ("a21002-Flag", "N"),
            ("a34013-Avg", "3.2"),
            ("a34013-Flag", "D"),
        ],
    )
    # Minute waste-water data (CN 2051, ST 32), with one code no parameter maps to.
    outfall_minute = data_packet(
        outfall_mn,
        outfall_pw,
        "32",
        "2051",
        "20240501081500",
        [
            ("w01018-Avg", "35.6"),
            ("w01018-Flag", "N"),
            ("w21003-Avg", "1.25"),
            ("w21003-Flag", "N"),
            ("w99999-Avg", "1.0"),
        ],
        qn="20240501081500456",
    )
    good = [(hj212_topic(stack_mn), stack_hour), (hj212_topic(outfall_mn), outfall_minute)]

    unknown_mn = "G99999999999999999999"
    bad = [  # (topic, payload, reason expected in the dead letter)
        (hj212_topic(stack_mn), with_bad_crc(stack_hour), "invalid HJ 212 packet"),
        (
            hj212_topic(unknown_mn),
            data_packet(
                unknown_mn, "123456", "31", "2061", "20240501080000", [("a21026-Avg", "1")]
            ),
            f"unknown HJ 212 logger MN {unknown_mn!r}",
        ),
        (
            hj212_topic(stack_mn),
            data_packet(stack_mn, "000000", "31", "2061", "20240501090000", [("a21026-Avg", "1")]),
            f"HJ 212 packet of logger MN {stack_mn!r} (outlet {STACK!r}): wrong password (PW)",
        ),
        (
            hj212_topic(outfall_mn),
            stack_hour,
            f"HJ 212 packet MN {stack_mn!r} does not match the topic's MN {outfall_mn!r}",
        ),
    ]
    assert stack_pw != "000000"

    ingestor = MqttIngestor(
        ingestor_config(broker, client_id="hj212", batch_wait_s=0.05),
        registry,
        LandingZone(settings.landing_root),
    )
    ingestor.start()
    assert ingestor.connected.wait(15)
    pub = sender_publisher(broker)
    pub.wait_connected()
    stream = good + [(t, p) for t, p, _ in bad]
    pub.publish_all(stream)
    pub.close()
    n_dead = len(bad) + 1  # + the unmapped code w99999
    landing.wait_for(lambda r: len(r.keys) >= 5 and len(r.dead) >= n_dead)
    ingestor.stop()
    assert ingestor.stats.acked == len(stream)  # bad packets are acknowledged too: they do not loop
    assert ingestor.stats.messages == len(stream)

    counts = load_and_count(settings)
    assert counts.readings == counts.distinct_keys == 5
    with connect(settings, write=False) as con:
        rows = con.execute(
            "SELECT site_id, parameter, period_start, interval_s, source_kind, value, value_zs, value_min, value_max, "
            "flag, unit, origin FROM readings ORDER BY site_id, parameter"
        ).fetchall()
    hour = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    minute = datetime(2024, 5, 1, 0, 15, tzinfo=UTC)
    got = {(r[0], r[1]): r[2:] for r in rows}
    origin_stack = f"hj212:{stack_mn}:20240501080000123"
    origin_outfall = f"hj212:{outfall_mn}:20240501081500456"
    assert set(got) == {
        (STACK, "so2"),
        (STACK, "nox"),
        (STACK, "dust"),
        (OUTFALL, "cod"),
        (OUTFALL, "nh3n"),
    }
    assert got[(STACK, "so2")] == (
        hour,
        3600,
        "hj212",
        12.5,
        14.1,
        10.2,
        15.0,
        "N",
        "mg/m3",
        origin_stack,
    )
    assert got[(STACK, "nox")] == (
        hour,
        3600,
        "hj212",
        41.0,
        None,
        None,
        None,
        "N",
        "mg/m3",
        origin_stack,
    )
    assert got[(STACK, "dust")] == (
        hour,
        3600,
        "hj212",
        3.2,
        None,
        None,
        None,
        "D",
        "mg/m3",
        origin_stack,
    )
    assert got[(OUTFALL, "cod")] == (
        minute,
        60,
        "hj212",
        35.6,
        None,
        None,
        None,
        "N",
        "mg/L",
        origin_outfall,
    )
    assert got[(OUTFALL, "nh3n")] == (
        minute,
        60,
        "hj212",
        1.25,
        None,
        None,
        None,
        "N",
        "mg/L",
        origin_outfall,
    )

    # each reason as written, less the note that the password in the raw bytes was masked
    dead = {(d[0], d[1].split(" [raw bytes")[0]) for d in counts.dead_letters}
    assert all(d[1].endswith(MASK_NOTE) for d in counts.dead_letters)
    assert len(counts.dead_letters) == n_dead
    assert (hj212_topic(outfall_mn), "HJ 212 code 'w99999': no parameter mapping") in dead
    for topic, _, reason in bad:
        assert any(origin == topic and reason in r for origin, r in dead), (topic, reason, dead)
    crc_reasons = [
        r for o, r in dead if o == hj212_topic(stack_mn) and r.startswith("invalid HJ 212 packet")
    ]
    assert len(crc_reasons) == 1 and "CRC" in crc_reasons[0], crc_reasons
    # The payload as received, but for the logger's password, masked as the HJ 212 server does.
    raw = {d["reason"].split(" [raw bytes")[0]: d["raw"] for d in landing.dead}
    mismatch = raw[f"HJ 212 packet MN {stack_mn!r} does not match the topic's MN {outfall_mn!r}"]
    # the password, and the CRC computed over it (review I10), masked; every other byte as sent
    assert mismatch == stack_hour.replace(f"PW={stack_pw}".encode(), b"PW=******")[:-6] + (
        b"****\r\n"
    )
    assert mismatch != stack_hour and stack_pw.encode() not in mismatch
    assert all(stack_pw.encode() not in d["raw"] for d in landing.dead)
    assert status_job(settings).dead_letters_waiting == {"mqtt": n_dead}
