"""A QoS 1 publisher that returns only when the broker has acknowledged every message.

Used by the station simulator, the Beijing replay, the tests and the benchmark. paho keeps
unacknowledged messages and resends them after a reconnect, so a broker restart mid-stream
loses nothing (it may deliver a message twice, which is what QoS 1 allows).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties

from envmon.errors import EnvmonError

# paho packet ids are 16-bit: never have more than this many messages awaiting their PUBACK.
MAX_OUTSTANDING = 20_000


class PublishError(EnvmonError):
    pass


@dataclass
class PublishResult:
    messages: int
    seconds: float


class Publisher:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | None = None,
        qos: int = 1,
        inflight: int = 1000,
    ):
        self.qos = qos
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"envmon-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca:
            self.client.tls_set(ca_certs=tls_ca)
        self.client.max_inflight_messages_set(inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(1, 5)
        self._acked = 0
        self._sent = 0
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client.on_publish = self._on_publish
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self._connected.clear()
        self.client.connect_async(host, port, keepalive=30, clean_start=True)
        self.client.loop_start()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        if not reason_code.is_failure:
            self._connected.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    def wait_connected(self, timeout_s: float = 15.0) -> None:
        if not self._connected.wait(timeout_s):
            raise PublishError(f"could not connect to the broker within {timeout_s:.0f} s")

    def publish(self, topic: str, payload: bytes) -> None:
        with self._cond:
            while self._sent - self._acked >= MAX_OUTSTANDING:
                self._cond.wait(1.0)
        info = self.client.publish(topic, payload, qos=self.qos)
        if info.rc not in (
            mqtt.MQTT_ERR_SUCCESS,
            mqtt.MQTT_ERR_NO_CONN,
        ):  # NO_CONN: kept, sent on reconnect
            raise PublishError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        if self.qos > 0:
            self._sent += 1

    def flush(self, timeout_s: float = 300.0) -> None:
        """Wait until the broker acknowledged everything published."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._acked < self._sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PublishError(
                        f"{self._sent - self._acked} messages still unacknowledged after {timeout_s:.0f} s"
                    )
                self._cond.wait(min(left, 1.0))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> PublishResult:
        t0 = time.monotonic()
        n = 0
        for topic, payload in messages:
            self.publish(topic, payload)
            n += 1
        self.flush()
        return PublishResult(n, time.monotonic() - t0)


def publish_paced(
    publisher: Publisher,
    messages: Iterable[tuple[str, bytes, float]],
    *,
    speedup: float | None = None,
    rate: float | None = None,
) -> PublishResult:
    """Publish (topic, payload, simulated epoch seconds) in order, then wait for every ack.

    speedup: simulated seconds per real second (3600: an hour of data a second); None or 0
    publishes as fast as the broker takes it. rate: at most this many messages a second.
    """
    t0 = time.monotonic()
    sim0: float | None = None
    n = 0
    for topic, payload, sim_t in messages:
        if sim0 is None:
            sim0 = sim_t
        due = 0.0
        if speedup:
            due = (sim_t - sim0) / speedup
        if rate:
            due = max(due, n / rate)
        wait = t0 + due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        publisher.publish(topic, payload)
        n += 1
    publisher.flush()
    return PublishResult(n, time.monotonic() - t0)
