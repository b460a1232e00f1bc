"""Issue #18, the MQTT side, each attack reproduced against the real Mosquitto on loopback:

- item 10: the broker envmon ships takes no anonymous publisher, and a station may publish only
  to its own topic (Mosquitto password file of PBKDF2 hashes + ACL, from the registry);
- item 1: a poison message (188 KB, 12,500 unknown parameter names) makes ONE dead letter
  carrying its payload once, and a valid reading sent afterwards lands; payload size and values
  per message are bounded (both sides of each bound);
- item 11: the reading contract (core/contract.py) decides the time window, finiteness and
  flags, for station JSON and for HJ 212 packets over MQTT, one dead letter per message.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
from _mqtt_helpers import (
    LandingReader,
    ingestor_config,
    load_and_count,
    sender_publisher,
    start_ingestor_process,
    station_publisher,
    stop_process,
)

from core.contract import ReadingContract
from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.hj212.auth import mask_passwords
from ingest.hj212.packet import CpField, Packet
from ingest.hj212.protocol import serialize
from ingest.mqtt.accounts import credentials_path, load_accounts, password_hash
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import MqttIngestor
from ingest.mqtt.topics import hj212_topic, station_topic
from sim.publisher import Publisher, PublishError
from warehouse.db import connect

pytestmark = pytest.mark.network

T = "2024-05-01T08:00:00+08:00"
DONGSI = station_topic("air", "dongsi")
TIANTAN = station_topic("air", "tiantan")


def reading(site: str = "dongsi", period_start: str = T, **values: object) -> bytes:
    body = {"site": site, "period_start": period_start, "interval_s": 3600, "values": values}
    return json.dumps(body).encode()


def start_ingestor(broker: Broker, settings: Settings, registry: Registry, **kw: object):
    ing = MqttIngestor(
        ingestor_config(broker, **{"client_id": "hardening", "batch_wait_s": 0.05, **kw}),
        registry,
        LandingZone(settings.landing_root),
    )
    ing.start()
    assert ing.connected.wait(15)
    return ing


def readings_in_warehouse(settings: Settings) -> set[tuple[str, str]]:
    with connect(settings, write=False) as con:
        return set(con.execute("SELECT site_id, parameter FROM readings").fetchall())


# -- item 10: accounts and ACL ---------------------------------------------------------------


def test_password_hash_is_mosquitto_passwd_format() -> None:
    # The $7$ format of mosquitto_passwd (Mosquitto 2): PBKDF2-HMAC-SHA512, 101 iterations,
    # base64 salt and digest. Hand-worked with `mosquitto_passwd -b file alice secret`, which
    # wrote alice:$7$101$Qno6yd2iE176J2nv$6zqsp7o1... for the salt below.
    salt = base64.b64decode("Qno6yd2iE176J2nv")
    assert password_hash("secret", salt) == (
        "$7$101$Qno6yd2iE176J2nv$6zqsp7o1dbBqa6l6aeAXHxwNnmWaSkwLPzDhqdMjGSloo7VVhZahSWOR5zzhlkl"
        "f6Oq3Krz7pdxKh/+KRDRCtw=="
    )
    assert password_hash("secreT", salt) != password_hash("secret", salt)


def test_accounts_stored_private_and_hashed(
    broker: Broker, settings: Settings, registry: Registry
) -> None:
    path = credentials_path(settings.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    accounts = load_accounts(path)
    # one per station and logger of the registry, plus the ingestor
    assert len(accounts) == len(registry.stations) + len(registry.outlet_by_mn) + 1
    passwd = (broker.workdir / "passwd").read_text()
    acl = (broker.workdir / "acl").read_text()
    assert stat.S_IMODE((broker.workdir / "passwd").stat().st_mode) == 0o600
    for account in accounts.by_user.values():
        assert account.password not in passwd  # hashes only
        assert account.password not in acl
        assert f"\n{account.username}:$7$101$" in f"\n{passwd}"
    assert "user station-dongsi\ntopic write envmon/v1/air/dongsi\n" in acl
    assert "user envmon-ingestor\ntopic read envmon/v1/#\n" in acl
    assert "allow_anonymous false" in broker.config_file.read_text()
    assert accounts.station("dongsi").password not in repr(accounts.station("dongsi"))


def test_anonymous_publisher_refused(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    ingestor = start_ingestor(broker, settings, registry)
    anonymous = Publisher(broker.host, broker.port)
    with pytest.raises(PublishError, match="Not authorized"):
        anonymous.wait_connected(3)
    anonymous.close()
    # A station's name with a wrong password is refused the same way.
    wrong = Publisher(broker.host, broker.port, username="station-dongsi", password="123456")
    with pytest.raises(PublishError, match="Not authorized"):
        wrong.wait_connected(3)
    wrong.close()
    # A raw client that publishes right after CONNECT, without waiting for CONNACK.
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="anon", protocol=mqtt.MQTTv5)
    raw.connect(broker.host, broker.port)
    raw.publish(DONGSI, reading(pm25=999), qos=1)
    raw.loop_start()
    # Then the real station: its reading lands, and is the only thing that does.
    pub = station_publisher(broker)
    pub.publish(DONGSI, reading(pm25=35))
    pub.flush()
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= 1)
    raw.loop_stop()
    ingestor.stop()
    assert ingestor.stats.messages == 1
    load_and_count(settings)
    with connect(settings, write=False) as con:
        assert con.execute("SELECT site_id, parameter, value FROM readings").fetchall() == [
            ("dongsi", "pm25", 35.0)
        ]


def test_station_cannot_publish_for_another(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    ingestor = start_ingestor(broker, settings, registry)
    dongsi = broker.accounts.station("dongsi")
    pub = Publisher(broker.host, broker.port, username=dongsi.username, password=dongsi.password)
    pub.wait_connected()
    pub.publish(TIANTAN, reading(site="tiantan", pm25=500))  # another station's topic
    pub.publish(hj212_topic("G11010001883490606930"), b"##0000")  # a logger's topic
    pub.publish("envmon/v1/air/nowhere", reading(site="nowhere", pm25=1))  # outside its own
    pub.flush()
    assert pub.refused == 3 and pub.refusal == "Not authorized"
    pub.publish(DONGSI, reading(pm25=36))  # its own topic: taken
    pub.flush()
    assert pub.refused == 3
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= 1)
    ingestor.stop()
    assert ingestor.stats.messages == 1  # the refused ones never reached the ingestor
    counts = load_and_count(settings)
    assert counts.dead_letters == []
    assert readings_in_warehouse(settings) == {("dongsi", "pm25")}


# -- item 1: bounded messages, one dead letter per message -----------------------------------


def poison_payload() -> bytes:
    """The issue's poison: 12,500 unknown parameter names, about 188 KB."""
    values = {f"zz{i:05d}x": 1.5 for i in range(12_500)}
    body = {"site": "dongsi", "period_start": T, "interval_s": 3600, "values": values}
    return json.dumps(body, separators=(",", ":")).encode()


def test_poison_message_one_dead_letter_then_valid_reading_lands(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    poison = poison_payload()
    assert 180_000 < len(poison) < 200_000
    assert len(poison) <= settings.mqtt_max_payload_bytes  # refused by its count of values
    ingestor = start_ingestor(broker, settings, registry)
    pub = sender_publisher(broker)
    pub.wait_connected()
    pub.publish(DONGSI, poison)
    pub.publish(DONGSI, poison)  # redelivered: collapses onto the same dead letter
    pub.publish(DONGSI, reading(pm25=41))
    pub.flush()
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= 1 and len(r.dead) >= 2)
    ingestor.stop()
    assert ingestor.stats.dead_letters == 2  # one per message, not 12,500
    assert ingestor.stats.acked == 3
    dead = landing.dead
    assert [d["raw"] for d in dead] == [poison, poison]  # the payload, once per dead letter
    assert dead[0]["reason"] == (
        f"field 'values': 12500 values in one message, more than the "
        f"{settings.mqtt_max_values} allowed (setting mqtt_max_values); nothing of it was taken"
    )
    counts = load_and_count(settings)
    assert len(counts.dead_letters) == 1
    assert readings_in_warehouse(settings) == {("dongsi", "pm25")}  # the valid one landed


def test_bounds_both_sides(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    max_values, max_bytes = 3, 2048
    at_values = reading(pm25=1, pm10=2, no2=3)
    over_values = reading(site="dongsi", period_start="2024-05-01T09:00:00+08:00",
                          pm25=1, pm10=2, no2=3, so2=4)  # fmt: skip
    base = reading(period_start="2024-05-01T10:00:00+08:00", co=0.5)
    at_bytes = base + b" " * (max_bytes - len(base))  # JSON allows trailing white space
    over_bytes = base.replace(b"10:00", b"11:00") + b" " * (max_bytes + 1 - len(base))
    assert len(at_bytes) == max_bytes and len(over_bytes) == max_bytes + 1
    ingestor = start_ingestor(
        broker, settings, registry, max_values=max_values, max_payload_bytes=max_bytes
    )
    pub = sender_publisher(broker)
    pub.wait_connected()
    for payload in (at_values, over_values, at_bytes, over_bytes):
        pub.publish(DONGSI, payload)
    pub.flush()
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= 4 and len(r.dead) >= 2)
    ingestor.stop()
    reasons = {d["reason"]: d["raw"] for d in landing.dead}
    assert len(reasons) == 2
    values_reason = (
        "field 'values': 4 values in one message, more than the 3 allowed "
        "(setting mqtt_max_values); nothing of it was taken"
    )
    assert reasons[values_reason] == over_values
    bytes_reason = (
        "payload is 2049 bytes, more than the 2048 allowed per message (setting "
        "mqtt_max_payload_bytes); nothing of it was taken; the dead letter keeps its first "
        "2048 bytes"
    )
    assert reasons[bytes_reason] == over_bytes[:max_bytes]
    load_and_count(settings)
    with connect(settings, write=False) as con:
        rows = con.execute(
            "SELECT parameter, strftime(period_start, '%H') FROM readings ORDER BY 2, 1"
        ).fetchall()
    # the message at the bound of values (00 UTC) and the one at the bound of bytes (02 UTC)
    assert rows == [("no2", "00"), ("pm10", "00"), ("pm25", "00"), ("co", "02")]


# -- item 11: the reading contract -----------------------------------------------------------


NON_FINITE = (
    b'{"period_start":"2024-05-01T08:00:00+08:00","interval_s":3600,"values":{"pm25":NaN,'
    b'"no2":{"value":1,"max":1e400},"so2":2,"o3":{"value":3,"flag":"  "}}}'
)


def hj212_hour(registry: Registry, datatime: str, value: str = "12.5") -> tuple[str, bytes]:
    site = "huaneng_gaobeidian_da001"
    lg = registry.outlets[site][1].logger
    cp = (
        (CpField("DataTime", datatime), CpField("a21026-Avg", value), CpField("a21026-Flag", "N")),
    )
    packet = Packet(
        cn="2061", qn=f"{datatime}000", st="31", pw=lg.password, mn=lg.mn, flag=5, cp=cp
    )
    return hj212_topic(lg.mn), serialize(packet)


def test_reading_contract_applied(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    contract = ReadingContract.from_settings(settings)
    assert contract.earliest == datetime(2000, 1, 1, tzinfo=UTC)  # the settings' default
    now = datetime.now(UTC).replace(microsecond=0)
    soon = (now + contract.max_future - timedelta(seconds=60)).isoformat()  # inside the drift
    later = (now + contract.max_future + timedelta(seconds=120)).isoformat()  # beyond it
    messages = [
        (DONGSI, reading(period_start="2000-01-01T00:00:00+00:00", pm25=1)),  # first instant: in
        (DONGSI, reading(period_start="1999-12-31T23:59:59+00:00", pm25=2)),  # a second before
        (DONGSI, reading(period_start="1970-01-01T08:00:00+08:00", pm25=3)),  # a reset clock
        (DONGSI, reading(period_start=soon, pm25=4)),
        (DONGSI, reading(period_start=later, pm25=5)),
        # non-finite numbers: NaN (Python's JSON writes it), 1e400 (beyond a double)
        (DONGSI, NON_FINITE),
        hj212_hour(registry, "19991231230000"),  # HJ 212 over MQTT: the same contract
        hj212_hour(registry, "20240501090000"),
    ]
    ingestor = start_ingestor(broker, settings, registry, contract=contract)
    pub = sender_publisher(broker)
    pub.wait_connected()
    for topic, payload in messages:
        pub.publish(topic, payload)
    pub.flush()
    pub.close()
    landing.wait_for(lambda r: len(r.dead) >= 5 and len(r.keys) >= 5)
    ingestor.stop()
    dead = {d["raw"]: d["reason"] for d in landing.dead}
    assert len(landing.dead) == len(dead) == 5  # one per message
    assert dead[messages[1][1]] == (
        "field 'period_start': 1999-12-31T23:59:59+00:00 is before 2000-01-01 (a reset logger "
        "clock?); setting reading_earliest (sent as '1999-12-31T23:59:59+00:00')"
    )
    assert dead[messages[2][1]].startswith(
        "field 'period_start': 1970-01-01T00:00:00+00:00 is before 2000-01-01"
    )
    assert dead[messages[4][1]].startswith(
        f"field 'period_start': {datetime.fromisoformat(later).isoformat()} is in the future"
    )
    assert dead[messages[5][1]] == (
        "2 value(s) refused, 2 taken: parameter 'pm25': field 'value': nan is not a finite "
        "number; parameter 'no2': field 'max': inf is not a finite number"
    )
    hj212_raw = mask_passwords(messages[6][1])[0]  # its password masked (item 9)
    assert hj212_raw != messages[6][1]
    assert dead[hj212_raw].startswith(  # worded as the HJ 212 server words it
        "DataTime 19991231230000 refused by the reading contract: 1999-12-31T15:00:00+00:00 is "
        "before 2000-01-01"
    )
    counts = load_and_count(settings)
    assert counts.readings == 5
    with connect(settings, write=False) as con:
        rows = con.execute(
            "SELECT site_id, parameter, value, flag FROM readings ORDER BY period_start, parameter"
        ).fetchall()
    assert ("dongsi", "pm25", 1.0, None) in rows  # 2000-01-01T00:00Z: the first instant allowed
    assert ("dongsi", "pm25", 4.0, None) in rows  # inside the drift allowed
    assert ("dongsi", "o3", 3.0, None) in rows  # a blank flag is no flag
    assert ("dongsi", "so2", 2.0, None) in rows
    assert ("huaneng_gaobeidian_da001", "so2", 12.5, "N") in rows


def test_ingestor_cli_uses_its_account_and_says_why_when_refused(
    broker: Broker, settings: Settings
) -> None:
    """`envmon mqtt run` takes the ingestor account from $ENVMON_HOME/mqtt; with a wrong
    password it logs the broker's refusal in one line, without a traceback."""
    assert os.environ.get("ENVMON_MQTT_PASSWORD") is None
    proc = start_ingestor_process(
        settings, broker, "--username", "envmon-ingestor", "--password", "pw-Qx7-not-it"
    )
    log = settings.home / "ingestor.log"
    deadline = time.monotonic() + 30
    while "refused the connection" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    assert stop_process(proc) == 0
    text = log.read_text()
    assert "refused the connection of envmon-ingestor: Not authorized" in text
    assert "Traceback" not in text
    assert "pw-Qx7-not-it" not in text  # the password is not logged

    proc = start_ingestor_process(settings, broker)
    deadline = time.monotonic() + 30
    while f"[{proc.pid}]: connected" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.1)
    assert stop_process(proc) == 0
    assert f"[{proc.pid}]: using the ingestor account envmon-ingestor" in log.read_text()


def test_batch_written_at_its_dead_letter_bound(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    """A batch is written once its dead letters hold batch_dead_bytes of payload, not later:
    with no other trigger (a batch neither full nor old), nothing is written below the bound and
    the batch is written as soon as it is reached."""
    bad = [reading(period_start="yesterday", pm25=1, no2=i) + b" " * 3000 for i in range(2)]
    bound = len(bad[0]) + len(bad[1])  # reached by the second message, not by the first
    ingestor = start_ingestor(
        broker,
        settings,
        registry,
        batch_dead_bytes=bound,
        batch_messages=30_000,  # no count trigger
        batch_wait_s=600.0,  # no age trigger either
    )
    pub = sender_publisher(broker)
    pub.wait_connected()
    pub.publish(DONGSI, bad[0])
    pub.flush()
    deadline = time.monotonic() + 30
    while ingestor._current.messages < 1:  # taken into the open batch
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    landing.poll()
    assert landing.dead == [] and ingestor.stats.batches == 0  # below the bound: not written
    pub.publish(DONGSI, bad[1])
    pub.flush()
    pub.close()
    landing.wait_for(lambda r: len(r.dead) >= 2)  # the bound reached: written (and acked)
    assert ingestor.stats.batches == 1 and ingestor.stats.acked == 2
    ingestor.stop()
    assert [d["raw"] for d in landing.dead] == bad
