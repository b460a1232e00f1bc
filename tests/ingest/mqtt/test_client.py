"""ingest.mqtt.client.BulkClient: PUBLISH packets read in bulk (whole, split over reads, with or
without MQTT v5 properties, in order with other packets) and PUBACKs written in bulk, never for
a connection that is gone. The packet tests feed raw bytes through a socket pair; the last test
runs against the real Mosquitto of the MQTT tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from _mqtt_helpers import SENDER

from ingest.mqtt.broker import Broker, free_port
from ingest.mqtt.client import PUBACK, PUBACK_PACKETS, PUBLISH, BulkClient, Message

Received = list[tuple[list[Message], int]]


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic: str, payload: bytes, mid: int = 0, qos: int = 1, props: bytes | None = None) -> bytes:
    """A PUBLISH packet as a broker sends it (props: MQTT v5 properties, None for v3.1.1)."""
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    if qos:
        body += mid.to_bytes(2, "big")
    if props is not None:
        body += varint(len(props)) + props
    body += payload
    return bytes((PUBLISH | qos << 1,)) + varint(len(body)) + body


PINGRESP = b"\xd0\x00"
V5_PROPS = b"\x01\x01" + b"\x08\x00\x05reply"  # payload format indicator, response topic


@pytest.fixture
def wired() -> Iterator[tuple[BulkClient, socket.socket, Received]]:
    """A client whose socket is one end of a pair; the test is the broker at the other end."""
    received: Received = []
    client = BulkClient(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="t", protocol=mqtt.MQTTv5,
                        manual_ack=True, on_messages=lambda msgs, conn: received.append((list(msgs), conn)))
    ours, broker_end = socket.socketpair()
    client._sock = ours
    yield client, broker_end, received
    ours.close()
    broker_end.close()


def test_puback_packets_are_precomputed_for_every_packet_id() -> None:
    assert len(PUBACK_PACKETS) == 65536 and PUBACK == 0x40
    assert PUBACK_PACKETS[1] == b"\x40\x02\x00\x01" and PUBACK_PACKETS[0x1234] == b"\x40\x02\x12\x34"


def test_many_publish_packets_of_one_read_arrive_together(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    broker_end.sendall(publish("envmon/v1/air/dongsi", b'{"a":1}', 1, props=b"")
                       + publish("envmon/v1/air/tiantan", b"x" * 300, 2, props=V5_PROPS)  # 2-byte length
                       + publish("envmon/v1/noise/n1", b"", 0, qos=0, props=b""))
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert received == [([(b"envmon/v1/air/dongsi", b'{"a":1}', 1, 1),
                          (b"envmon/v1/air/tiantan", b"x" * 300, 2, 1),
                          (b"envmon/v1/noise/n1", b"", 0, 0)], 0)]
    assert client._rx == b""


def test_a_packet_split_over_reads_waits_for_its_rest(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    whole = publish("envmon/v1/air/dongsi", "东四".encode() * 100, 7, props=b"")
    first = publish("envmon/v1/air/a", b"1", 6, props=b"")
    for cut in (1, 2, 5, len(whole) - 1):  # inside the length bytes, the topic, the payload
        received.clear()
        broker_end.sendall(first + whole[:cut])
        assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        assert received == [([(b"envmon/v1/air/a", b"1", 6, 1)], 0)]
        broker_end.sendall(whole[cut:])
        assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
        assert received[1:] == [([(b"envmon/v1/air/dongsi", "东四".encode() * 100, 7, 1)], 0)]
        assert client._rx == b""


def test_other_packets_keep_their_place_in_the_order(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    broker_end.sendall(publish("t/1", b"a", 1, props=b"") + PINGRESP + publish("t/2", b"b", 2, props=b""))
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [[m[0] for m in msgs] for msgs, _ in received] == [[b"t/1"], [b"t/2"]]  # flushed before the PINGRESP


def test_v311_packets_have_no_properties() -> None:
    received: Received = []
    client = BulkClient(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="t",
                        protocol=mqtt.MQTTv311, on_messages=lambda m, c: received.append((list(m), c)))
    ours, broker_end = socket.socketpair()
    try:
        client._sock = ours
        broker_end.sendall(publish("t/1", b"\x00\x05abc", 9))  # payload bytes that look like properties
        client._packet_read()
        assert received == [([(b"t/1", b"\x00\x05abc", 9, 1)], 0)]
    finally:
        ours.close()
        broker_end.close()


def test_a_closed_or_missing_socket_is_a_lost_connection(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    broker_end.close()
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_CONN_LOST
    client._sock = None
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_NO_CONN
    assert received == []


def test_a_remaining_length_over_four_bytes_is_a_protocol_error(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    broker_end.sendall(b"\x32\xff\xff\xff\xff\x01")
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert received == []


def test_a_topic_longer_than_its_packet_followed_by_more_is_a_protocol_error(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    # says 64 topic bytes in a 6-byte packet; more packets follow in the buffer
    broker_end.sendall(bytes((0x32, 6)) + b"\x00\x40abcd" + publish("t/1", b"x" * 100, 1, props=b""))
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert received == []


@pytest.mark.parametrize("packet", [
    bytes((0x32, 6)) + b"\x00\x40abcd",  # a topic of 64 bytes in a 6-byte packet
    b"\x30\x00",  # a PUBLISH of no bytes at all (no topic length)
    bytes((0x32, 3)) + b"\x00\x01t",  # QoS 1 without its packet id
], ids=["topic-past-end", "no-topic-length", "no-packet-id"])
def test_a_truncated_publish_at_the_end_of_the_buffer_is_a_protocol_error(wired, packet: bytes) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, received = wired
    broker_end.sendall(packet)
    assert client._packet_read() == mqtt.MQTTErrorCode.MQTT_ERR_PROTOCOL
    assert received == []


def test_ack_many_writes_the_pubacks_of_a_batch_at_once(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, _ = wired
    assert client.ack_many([(1, 1), (0, 0), (300, 1), (65535, 1)], client.connection) is True
    broker_end.settimeout(5)
    assert broker_end.recv(100) == b"\x40\x02\x00\x01" + b"\x40\x02\x01\x2c" + b"\x40\x02\xff\xff"


def test_no_ack_for_an_earlier_connection(wired) -> None:  # type: ignore[no-untyped-def]
    client, broker_end, _ = wired
    client._rx = b"\x32\x10half a packet"
    client._host, client._port = "127.0.0.1", free_port()  # nobody listens: the reconnect fails
    before = client.connection
    with pytest.raises(OSError):
        client.reconnect()
    assert client.connection == before + 1 and client._rx == b""  # the old socket's bytes are gone
    ours, broker_end = socket.socketpair()
    try:
        client._sock = ours
        assert client.ack_many([(1, 1)], before) is False  # the broker redelivers that message
        assert client.ack_many([(2, 1)], before + 1) is True
        broker_end.settimeout(5)
        assert broker_end.recv(100) == b"\x40\x02\x00\x02"
        client._sock = None
        assert client.ack_many([(3, 1)], before + 1) is False  # no socket: nothing to send on
    finally:
        ours.close()
        broker_end.close()


@pytest.mark.network
def test_through_mosquitto_every_message_arrives_once_and_acked(broker: Broker) -> None:
    assert broker.accounts is not None
    got: list[Message] = []
    conns: set[int] = set()
    done = threading.Event()
    n = 200

    def on_messages(messages: list[Message], connection: int) -> None:
        got.extend(messages)
        conns.add(connection)
        client.ack_many([(mid, qos) for _, _, mid, qos in messages], connection)
        if len(got) >= n:
            done.set()

    subscribed = threading.Event()
    client = BulkClient(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="bulk-test",
                        protocol=mqtt.MQTTv5, manual_ack=True, on_messages=on_messages)
    account = broker.accounts.ingestor
    client.username_pw_set(account.username, account.password)
    client.on_connect = lambda c, *a: c.subscribe("envmon/v1/#", qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.loop_start()
    sender = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="bulk-sender",
                         protocol=mqtt.MQTTv5)
    sender_account = broker.accounts.by_user[SENDER]
    sender.username_pw_set(sender_account.username, sender_account.password)
    try:
        assert subscribed.wait(10)
        sender.connect(broker.host, broker.port)
        sender.loop_start()
        infos = [sender.publish(f"envmon/v1/air/s{i % 7}", f"payload {i}".encode(), qos=1) for i in range(n)]
        for info in infos:
            info.wait_for_publish(10)
        assert done.wait(10)
    finally:
        sender.disconnect()
        sender.loop_stop()
        client.disconnect()
        client.loop_stop()
    assert [(t, p, q) for t, p, _, q in got] == [
        (f"envmon/v1/air/s{i % 7}".encode(), f"payload {i}".encode(), 1) for i in range(n)]
    # one connection throughout (connect() is the first attempt: number 1)
    assert len({mid for _, _, mid, _ in got}) == n and conns == {client.connection} == {1}
