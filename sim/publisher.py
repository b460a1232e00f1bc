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

from core.errors import EnvmonError
from ingest.mqtt.accounts import MqttAccounts

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
        self.refused = 0  # PUBACKs with a failure reason (e.g. 0x87: the ACL forbids the topic)
        self.refusal: str | None = None  # the last such reason
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.connect_refusal: str | None = None  # the broker's reason, if it refused us
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
        if reason_code.is_failure:
            self.connect_refusal = str(reason_code)
        else:
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
            if reason_code is not None and reason_code.is_failure:
                self.refused += 1
                self.refusal = str(reason_code)
            self._cond.notify_all()

    def wait_connected(self, timeout_s: float = 15.0) -> None:
        if not self._connected.wait(timeout_s):
            why = f": the broker refused: {self.connect_refusal}" if self.connect_refusal else ""
            raise PublishError(f"could not connect to the broker within {timeout_s:.0f} s{why}")

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
        return publish_all(self, messages)


class AccountPublisher:
    """Publishes each message with the account that owns its topic: one connection per station
    or logger, as real stations connect (the broker's ACL lets each publish only its own topic).

    Same interface as Publisher (publish, flush, close, refused). A topic no account owns is
    published with `fallback` (an account name) if given, else refused here with PublishError.
    """

    def __init__(
        self,
        host: str,
        port: int,
        accounts: MqttAccounts,
        *,
        tls_ca: str | None = None,
        client_prefix: str = "envmon-sim",
        fallback: str | None = None,
        inflight: int = 1000,
    ):
        self.host, self.port = host, port
        self.accounts = accounts
        self.tls_ca = tls_ca
        self.client_prefix = client_prefix
        self.fallback = fallback
        self.inflight = inflight
        self.publishers: dict[str, Publisher] = {}

    def _publisher(self, topic: str) -> Publisher:
        account = self.accounts.owner(topic)
        if account is None and self.fallback is not None:
            account = self.accounts.by_user[self.fallback]
        if account is None:
            raise PublishError(f"no MQTT account may publish to {topic!r}")
        pub = self.publishers.get(account.username)
        if pub is None:
            pub = Publisher(
                self.host,
                self.port,
                client_id=f"{self.client_prefix}-{account.username}"[:64],
                username=account.username,
                password=account.password,
                tls_ca=self.tls_ca,
                inflight=self.inflight,
            )
            self.publishers[account.username] = pub
            pub.wait_connected()
        return pub

    def wait_connected(self, timeout_s: float = 15.0) -> None:
        """Connections open on each account's first message."""

    def publish(self, topic: str, payload: bytes) -> None:
        self._publisher(topic).publish(topic, payload)

    @property
    def refused(self) -> int:
        return sum(p.refused for p in self.publishers.values())

    def flush(self, timeout_s: float = 300.0) -> None:
        for p in self.publishers.values():
            p.flush(timeout_s)

    def close(self) -> None:
        for p in self.publishers.values():
            p.close()

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> PublishResult:
        return publish_all(self, messages)


def publish_all(
    publisher: Publisher | AccountPublisher, messages: Iterable[tuple[str, bytes]]
) -> PublishResult:
    """Publish every message, then wait until the broker has acknowledged them all."""
    t0 = time.monotonic()
    n = 0
    for topic, payload in messages:
        publisher.publish(topic, payload)
        n += 1
    publisher.flush()
    return PublishResult(n, time.monotonic() - t0)


def publish_paced(
    publisher: Publisher | AccountPublisher,
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
