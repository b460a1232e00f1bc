"""A paho-mqtt client that reads PUBLISH packets in bulk and acknowledges them in bulk.

paho's own read path costs several `recv` calls, a `select` and an MQTT v5 Properties
object per incoming message, and one socket write per PUBACK; at tens of thousands of
messages a second that is most of the ingestor's time. This subclass keeps everything else
of paho (connect, TLS, auth, keepalive, reconnect, subscribe, the threaded loop) and replaces
only the two hot spots:

- `_packet_read`: one `recv` of up to 256 KiB per call; every complete packet in the buffer
  is handled; QoS 0/1 PUBLISH packets are decoded here (topic, packet id, payload; their
  properties are skipped, see below) and handed over together to `on_messages`; every other
  packet goes through paho's own handlers unchanged. An incomplete packet stays buffered
  until more bytes arrive, so paho's `select` on the socket never misses data.
- `ack_many`: the PUBACKs of a whole batch as one write.

Connections are numbered (`connection`). Messages carry the number of the connection they
came on, and `ack_many` drops acknowledgements meant for an earlier connection: after a
reconnect the broker redelivers those messages anyway, and a packet id of the old connection
may by then name another message on the new one. The read buffer belongs to one socket and
is discarded with it, so bytes of a dead connection are never parsed as the next one's.

This overrides paho internals (`_packet_read`, `_packet_handle`, `_in_packet`,
`_packet_queue`): written against paho-mqtt 2.2; every MQTT test runs through it.

Properties of incoming PUBLISH packets are not needed: the ingestor announces no Topic Alias
Maximum, so the broker never replaces a topic by an alias, and it uses no other property.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import MQTTErrorCode, time_func
from paho.mqtt.exception import MalformedPacket

PUBLISH = 0x30
PUBACK = 0x40
READ_SIZE = 256 * 1024

# (topic, payload, packet id, QoS) of one PUBLISH; the topic is as sent (UTF-8 bytes).
Message = tuple[bytes, bytes, int, int]
OnMessages = Callable[[list[Message], int], None]  # (messages, connection number)


class BulkClient(mqtt.Client):
    """paho Client with bulk reads (`on_messages`) and bulk acknowledgements (`ack_many`)."""

    def __init__(self, *args: Any, on_messages: OnMessages, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.on_messages = on_messages
        self.connection = 0  # incremented on every (re)connect attempt
        self._ack_lock = threading.Lock()
        self._rx = b""
        self._rx_sock: object | None = None
        # QoS 2 (never sent to us with a QoS 1 subscription) takes paho's own path.
        self.on_message = self._single_message

    def _single_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.on_messages([(msg._topic, msg.payload, msg.mid, msg.qos)], self.connection)

    def reconnect(self) -> MQTTErrorCode:
        with self._ack_lock:  # no ack of the old connection may be queued after this point
            self.connection += 1
            self._rx, self._rx_sock = b"", None
        return super().reconnect()

    def ack_many(self, acks: Sequence[tuple[int, int]], connection: int) -> bool:
        """Acknowledge (packet id, QoS) pairs received on `connection`, in order, as one write.

        False (nothing sent) if the client has reconnected since: the broker will redeliver.
        """
        with self._ack_lock:
            if connection != self.connection or self._sock is None:
                return False
            puback = b"".join(PUBACK_PACKETS[mid] for mid, qos in acks if qos == 1)
            if puback:
                self._packet_queue(PUBACK, puback, 0, 0)
            for mid, qos in acks:
                if qos == 2:
                    self.ack(mid, qos)
            return True

    def _packet_read(self) -> MQTTErrorCode:
        sock = self._sock
        if sock is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        try:
            chunk = self._sock_recv(READ_SIZE)
        except BlockingIOError:
            return MQTTErrorCode.MQTT_ERR_AGAIN
        except OSError as err:
            self._easy_log(mqtt.MQTT_LOG_ERR, "failed to receive on socket: %s", err)
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if not chunk:
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        with self._msgtime_mutex:
            self._last_bytes_received = time_func()
        data = self._rx + chunk if self._rx_sock is sock and self._rx else chunk
        self._rx_sock = sock
        v5 = self._protocol == mqtt.MQTTv5
        connection = self.connection
        messages: list[Message] = []
        pos, end = 0, len(data)
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while pos + 2 <= end:
            command = data[pos]
            # Remaining length: 1-4 bytes of 7 bits, least significant first.
            length = shift = 0
            p = pos + 1
            complete = False
            while p < end:
                byte = data[p]
                p += 1
                length |= (byte & 0x7F) << shift
                if not byte & 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
            if not complete or p + length > end:
                break  # incomplete: wait for more bytes
            packet_end = p + length
            qos = (command >> 1) & 3
            if command & 0xF0 == PUBLISH and qos < 2:
                # Every field is checked against the packet's end before it is read: a short
                # packet is a protocol error, never a read past the end of the buffer.
                if p + 2 > packet_end:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
                tlen = (data[p] << 8) | data[p + 1]
                p += 2
                topic = data[p : p + tlen]
                p += tlen
                mid = 0
                if qos:
                    if p + 2 > packet_end:
                        return MQTTErrorCode.MQTT_ERR_PROTOCOL
                    mid = (data[p] << 8) | data[p + 1]
                    p += 2
                if v5:  # skip the properties
                    plen = shift = 0
                    while True:
                        if p >= packet_end or shift > 21:
                            return MQTTErrorCode.MQTT_ERR_PROTOCOL
                        byte = data[p]
                        p += 1
                        plen += (byte & 0x7F) << shift
                        shift += 7
                        if not byte & 0x80:
                            break
                    p += plen
                if p > packet_end:
                    return MQTTErrorCode.MQTT_ERR_PROTOCOL
                messages.append((topic, data[p:packet_end], mid, qos))
            else:
                if messages:  # keep the order of packets
                    self.on_messages(messages, connection)
                    messages = []
                rc = self._handle_other(command, data[p:packet_end], length)
                if rc or self._sock is not sock:
                    self._rx = b""
                    return rc
            pos = packet_end
        self._rx = data[pos:]
        if messages:
            self.on_messages(messages, connection)
        return rc

    def _handle_other(self, command: int, body: bytes, length: int) -> MQTTErrorCode:
        """A packet other than a QoS 0/1 PUBLISH: paho's own handler."""
        self._in_packet = {
            "command": command,
            "have_remaining": 1,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": length,
            "packet": bytearray(body),
            "to_process": 0,
            "pos": 0,
        }
        try:
            return self._packet_handle()
        except MalformedPacket as exc:
            self._easy_log(mqtt.MQTT_LOG_DEBUG, "Received malformed packet: %s", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        finally:
            self._in_packet = {
                "command": 0,
                "have_remaining": 0,
                "remaining_count": [],
                "remaining_mult": 1,
                "remaining_length": 0,
                "packet": bytearray(b""),
                "to_process": 0,
                "pos": 0,
            }


# PUBACK with reason "success" omitted (MQTT v5 3.4.2.1 allows it; v3.1.1's only form).
PUBACK_PACKETS = [bytes((PUBACK, 2, mid >> 8, mid & 0xFF)) for mid in range(65536)]
