"""The MQTT ingestor: station readings from the broker into the landing zone, none lost, none twice.

Ack after durable: messages arrive with QoS 1 on a persistent MQTT v5 session and manual
acknowledgement. The network thread (paho's loop, reading in bulk: ingest/mqtt/client.py)
decodes each message into the current batch and records its packet id; the writer thread swaps the batch out when it is full (by messages) or old (by
time), writes its readings, logger events (HJ 212 CN 2021/2072) and dead letters to the landing
zone (fsynced, atomic), and only then sends the PUBACKs. A crash before the PUBACKs leaves the messages unacknowledged at the
broker, which redelivers them on reconnect; the copies then written collapse in the warehouse
loader onto the same natural key. So a reading is never lost and never counted twice.

Backpressure: at most one batch is being written while the next one fills; when that one is
full too, the network thread waits, stops reading the socket, and the broker holds the rest.

Bounds (issue #18): a payload over `max_payload_bytes` or a station message with more than
`max_values` values is refused whole; a message makes at most one dead letter, carrying its
payload once and all its reasons; a batch is also written once its dead letters hold
`batch_dead_bytes` of raw payload, so memory stays flat whatever senders publish.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from traceback import format_tb

import paho.mqtt.client as mqtt
import pyarrow as pa
import pyarrow.parquet as pq
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from core.contract import ReadingContract
from core.landing import LandingZone, conform
from core.registry.config import Registry
from core.schema import READINGS_SCHEMA
from ingest.hj212.auth import mask_text
from ingest.hj212.events import events_table
from ingest.mqtt.batch import Batch
from ingest.mqtt.client import BulkClient, Message
from ingest.mqtt.hj212_adapter import hj212_payload_to_records
from ingest.mqtt.payload import StationDecoder, dead_letter, join_reasons
from ingest.mqtt.topics import ALL_TOPICS, HJ212, Topic, TopicError, parse_topic, shared
from ingest.site_units import SiteUnits

log = logging.getLogger("envmon.mqtt")

DEAD_LETTER_SOURCE = "mqtt"  # every rejection of this ingestor is counted under source mqtt
LOGGER_EVENTS_SOURCE = "hj212"  # logger events are HJ 212's, whichever transport carried them
_TOPIC_CACHE_SIZE = 10_000  # parsed topics remembered (one per site); bounded for flat memory


@dataclass(frozen=True)
class IngestorConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = field(default_factory=lambda: f"envmon-ingest-{socket.gethostname()}")
    # Shared-subscription group ($share/group/...); None: a plain subscription, the default
    # because Mosquitto does not restore shared subscriptions after a restart (docs/mqtt.md).
    group: str | None = None
    topic_filter: str = ALL_TOPICS
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None  # CA bundle: turns TLS on
    tls_cert: str | None = None  # client certificate (mutual TLS)
    tls_key: str | None = None
    tls_insecure: bool = False  # skip host-name verification (test brokers only)
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 86400  # how long the broker keeps our queue while we are down
    batch_messages: int = 2000  # flush when a batch holds this many messages...
    batch_wait_s: float = 0.5  # ...or when its first message is this old
    receive_maximum: int | None = None  # unacked messages the broker may send; default 2 batches
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    # What a reading may be (time window, finite values, flags); None: the settings' contract.
    contract: ReadingContract | None = None
    # Bounds on one message; None: the settings mqtt_max_payload_bytes / mqtt_max_values.
    max_payload_bytes: int | None = None
    max_values: int | None = None
    # The time zone of HJ 212 DataTime (the loggers' local time); None: the settings' timezone.
    tz: tzinfo | None = None
    batch_dead_bytes: int = 32 * 1024 * 1024  # write the batch once its dead letters hold this

    @property
    def inflight(self) -> int:
        return min(65535, self.receive_maximum or 2 * self.batch_messages + 100)


@dataclass
class IngestStats:
    messages: int = 0
    readings: int = 0
    logger_events: int = 0  # HJ 212 running status and alarms
    dead_letters: int = 0
    batches: int = 0
    acked: int = 0
    connects: int = 0
    write_errors: int = 0
    last_write_s: float = 0.0


class MqttIngestor:
    """One ingestor process's client, batcher and landing writer."""

    def __init__(self, config: IngestorConfig, registry: Registry, landing: LandingZone):
        self.config = config
        self.landing = landing
        self.registry = registry
        settings = None
        if (
            config.contract is None
            or config.max_payload_bytes is None
            or config.max_values is None
            or config.tz is None
        ):
            from core.settings import get_settings

            settings = get_settings()
        self.contract = config.contract or ReadingContract.from_settings(settings)
        self.tz = config.tz or settings.tz  # type: ignore[union-attr]
        self.max_payload_bytes = config.max_payload_bytes or settings.mqtt_max_payload_bytes  # type: ignore[union-attr]
        self.max_values = config.max_values or settings.mqtt_max_values  # type: ignore[union-attr]
        self.decoder = self._decoder(registry)
        self._units = SiteUnits(registry)  # HJ 212 readings to the site's units
        self.stats = IngestStats()
        self._cond = threading.Condition()
        self._current = Batch()
        self._closing = False  # no new messages are taken; the writer flushes and ends
        self._abort = False  # stop retrying a failing write (shutdown deadline passed)
        self._writer: threading.Thread | None = None
        self.connected = threading.Event()  # set once subscribed, cleared on disconnect
        self._session_present = False
        self._topics: dict[bytes, tuple[str, Topic | TopicError]] = {}
        self.client = self._make_client()

    def _decoder(self, registry: Registry) -> StationDecoder:
        return StationDecoder(registry, self.contract, max_values=self.max_values)

    # -- the client --------------------------------------------------------------------
    def _make_client(self) -> BulkClient:
        cfg = self.config
        client = BulkClient(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
            on_messages=self._on_messages,
        )
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls_ca or cfg.tls_cert:
            client.tls_set(ca_certs=cfg.tls_ca, certfile=cfg.tls_cert, keyfile=cfg.tls_key)
            client.tls_insecure_set(cfg.tls_insecure)
        client.reconnect_delay_set(
            min_delay=max(1, round(cfg.reconnect_min_s)), max_delay=round(cfg.reconnect_max_s)
        )
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Properties:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.inflight
        return props

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error(
                "broker %s:%s refused the connection of %s: %s%s; retrying",
                self.config.host,
                self.config.port,
                self.config.username or "an anonymous client",
                reason_code,
                " (check the user name and password: ENVMON_MQTT_USERNAME / ENVMON_MQTT_PASSWORD, "
                "or the ingestor account of `envmon mqtt broker-config`)"
                if reason_code.value in (0x86, 0x87, 4, 5)
                else "",
            )
            return
        self.stats.connects += 1
        self._session_present = flags.session_present
        client.subscribe(
            shared(self.config.topic_filter, self.config.group), options=SubscribeOptions(qos=1)
        )

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        log.error(
            "cannot reach the broker at %s:%s (is Mosquitto running there?); retrying with backoff",
            self.config.host,
            self.config.port,
        )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[mqtt.ReasonCode],
        properties: Properties | None,
    ) -> None:
        sub = shared(self.config.topic_filter, self.config.group)
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error(
                "broker %s:%s refused the subscription to %s: %s",
                self.config.host,
                self.config.port,
                sub,
                ", ".join(map(str, failed)),
            )
            return
        log.info(
            "connected to %s:%s as %s (session present: %s); subscribed to %s",
            self.config.host,
            self.config.port,
            self.config.client_id,
            self._session_present,
            sub,
        )
        self.connected.set()  # only now: a message published from here on is ours

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: mqtt.ReasonCode,
        properties: Properties | None,
    ) -> None:
        self.connected.clear()
        if not self._closing:
            log.warning("disconnected from the broker (%s); reconnecting with backoff", reason_code)

    # -- intake (network thread) -------------------------------------------------------
    def _on_messages(self, messages: list[Message], connection: int) -> None:
        """Decode messages into the current batch (waiting while the writer is behind)."""
        now_us = time.time_ns() // 1000
        limit = self.config.batch_messages
        dead_limit = self.config.batch_dead_bytes
        cond = self._cond
        with cond:
            for topic, payload, mid, qos in messages:
                batch = self._current
                while (
                    batch.messages >= limit or batch.dead_bytes >= dead_limit
                ) and not self._closing:
                    cond.wait()  # backpressure: the writer is behind; the broker holds the rest
                    batch = self._current
                if self._closing:
                    return  # not acknowledged: the broker redelivers them to the next session
                if batch.messages == 0:
                    batch.first_at = time.monotonic()
                    cond.notify_all()  # starts the writer's age timer
                n_dead = len(batch.dead_letters)
                self._decode(batch, topic, payload, now_us)
                for d in batch.dead_letters[n_dead:]:
                    batch.dead_bytes += len(d["raw"])
                if qos:
                    acks = batch.acks.get(connection)
                    if acks is None:
                        acks = batch.acks[connection] = []
                    acks.append((mid, qos))
                batch.messages += 1
                if batch.messages >= limit or batch.dead_bytes >= dead_limit:
                    cond.notify_all()

    def _topic(self, raw: bytes) -> tuple[str, Topic | TopicError]:
        found = self._topics.get(raw)
        if found is None:
            topic_str = raw.decode("utf-8", errors="replace")
            try:
                found = (topic_str, parse_topic(topic_str))
            except TopicError as exc:
                found = (topic_str, exc)
            if len(self._topics) >= _TOPIC_CACHE_SIZE:
                self._topics.clear()
            self._topics[raw] = found
        return found

    def _decode(self, batch: Batch, raw_topic: bytes, payload: bytes, now_us: int) -> None:
        topic_str, topic = self._topic(raw_topic)
        try:
            if len(payload) > self.max_payload_bytes:
                self._oversized(batch, topic_str, payload, now_us)
            elif isinstance(topic, TopicError):
                dead_letter(batch.dead_letters, topic_str, str(topic), payload, now_us)
            elif topic.kind == HJ212:
                self._decode_hj212(batch, topic_str, topic, payload, now_us)
            else:
                self.decoder.decode(topic_str, topic, payload, batch, now_us)
        except Exception as exc:  # the daemon never crashes on input
            # an error's text may quote the payload: any password in it is masked too
            log.error(
                "unexpected error decoding a %d-byte message on %s (%s: %s); it is dead-lettered",
                len(payload),
                topic_str[:200],
                type(exc).__name__,
                mask_text(str(exc)),
            )
            # where it happened, without the error's text (which may quote the payload)
            log.debug("the traceback of that error:\n%s", "".join(format_tb(exc.__traceback__)))
            dead_letter(  # masked like every dead letter (payload.dead_letter): no password is stored
                batch.dead_letters,
                topic_str,
                f"internal error while decoding: {mask_text(repr(exc))}",
                payload,
                now_us,
                keep=self.max_payload_bytes,
            )

    def _oversized(self, batch: Batch, topic_str: str, payload: bytes, now_us: int) -> None:
        """One dead letter keeping the first max_payload_bytes of the payload, saying so."""
        keep = self.max_payload_bytes
        dead_letter(
            batch.dead_letters,
            topic_str,
            f"payload is {len(payload)} bytes, more than the {keep} allowed per message "
            f"(setting mqtt_max_payload_bytes); nothing of it was taken; the dead letter keeps "
            f"its first {keep} bytes",
            payload,
            now_us,
            keep=keep,
        )

    def _decode_hj212(
        self, batch: Batch, topic_str: str, topic: Topic, payload: bytes, now_us: int
    ) -> None:
        """An HJ 212 packet: as over TCP (hj212_adapter), its readings that keep the contract
        land in the site's units, its running status and alarms as logger events, and one
        dead letter (password masked) carries the reasons for the rest."""
        got = hj212_payload_to_records(
            payload,
            self.registry,
            self.contract,
            received_at=datetime.fromtimestamp(now_us / 1e6, UTC),
            mn=topic.key,
            tz=self.tz,
            conversion=self._units,
        )
        batch.add_rows("hj212", got.rows)
        batch.logger_events.extend(got.events)
        if not got.reasons:
            return
        reasons = got.reasons
        reason = reasons[0] if len(reasons) == 1 else join_reasons(reasons, len(got.rows))
        dead_letter(batch.dead_letters, topic_str, reason, payload, now_us)

    # -- writer thread -----------------------------------------------------------------
    def _next_batch(self) -> Batch | None:
        """Wait until the current batch is due, swap it out; None when closing and empty."""
        wait_s = self.config.batch_wait_s
        with self._cond:
            while True:
                b = self._current
                if b.messages:
                    age = time.monotonic() - b.first_at
                    if (
                        b.messages >= self.config.batch_messages
                        or b.dead_bytes >= self.config.batch_dead_bytes
                        or self._closing
                        or age >= wait_s
                    ):
                        self._current = Batch()
                        self._cond.notify_all()
                        return b
                    self._cond.wait(wait_s - age)
                elif self._closing:
                    return None
                else:
                    self._cond.wait()

    def _writer_loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            if self._commit(batch):
                self._ack(batch)

    def _commit(self, batch: Batch) -> bool:
        """Write the batch durably, retrying on failure; False only if aborted unwritten."""
        t0 = time.monotonic()
        pending: list[Callable[[], object]] = [
            (lambda k=kind, t=table: self.landing.write_readings(t, k))
            for kind, table in batch.tables()
        ]
        if batch.logger_events:
            pending.append(
                lambda: self.landing.write_logger_events(
                    events_table(batch.logger_events), LOGGER_EVENTS_SOURCE
                )
            )
        if batch.dead_letters:
            pending.append(
                lambda: self.landing.write_dead_letters(batch.dead_letters, DEAD_LETTER_SOURCE)
            )
        delay = 0.5
        while pending:
            try:
                pending[0]()
                pending.pop(0)  # done steps are not repeated on retry
            except Exception as exc:
                self.stats.write_errors += 1
                log.error(
                    "landing write to %s failed (%s: %s); %d messages stay unacknowledged, "
                    "retrying in %.1f s",
                    self.landing.root,
                    type(exc).__name__,
                    exc,
                    batch.messages,
                    delay,
                )
                log.debug("the traceback of that failure", exc_info=True)
                if self._abort:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.stats.last_write_s = time.monotonic() - t0
        self.stats.batches += 1
        self.stats.messages += batch.messages
        self.stats.readings += batch.readings
        self.stats.logger_events += len(batch.logger_events)
        self.stats.dead_letters += len(batch.dead_letters)
        return True

    def _ack(self, batch: Batch) -> None:
        # In the order received (MQTT asks acks in order), as one write. Acks owed on an
        # earlier connection are dropped: the broker redelivers those messages on the new
        # one, and their copies collapse in the warehouse loader.
        for connection, acks in batch.acks.items():
            if self.client.ack_many(acks, connection):
                self.stats.acked += len(acks)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        # Encode an empty batch in memory: pyarrow loads its compute, parquet and zstd code
        # now, not on the first batch (a second or more, while messages wait unacknowledged).
        pq.write_table(
            conform(Batch().mqtt.to_table(), READINGS_SCHEMA),
            pa.BufferOutputStream(),
            compression="zstd",
        )
        self._writer = threading.Thread(
            target=self._writer_loop, name="landing-writer", daemon=True
        )
        self._writer.start()
        self.client.connect_async(
            self.config.host,
            self.config.port,
            keepalive=self.config.keepalive_s,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self.client.loop_start()

    def reload_registry(self, registry: Registry) -> None:
        """Swap in a new registry (SIGHUP); messages decode against one or the other, whole."""
        decoder, units = self._decoder(registry), SiteUnits(registry)
        with self._cond:
            self.registry, self.decoder, self._units = registry, decoder, units

    def stop(self, timeout_s: float = 30.0) -> None:
        """Take no more messages, write and acknowledge what was taken, disconnect."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._writer is not None:
            self._writer.join(timeout_s)
            if self._writer.is_alive():
                self._abort = True
                log.error(
                    "landing writes still failing at shutdown; unwritten messages stay "
                    "unacknowledged and will be redelivered"
                )
                self._writer.join(5)
        self.client.disconnect()  # queued after the PUBACKs, so those go out first
        self.client.loop_stop()
        log.info(
            "stopped: %d messages, %d readings, %d logger events, %d dead letters in %d batches; "
            "%d acked",
            self.stats.messages,
            self.stats.readings,
            self.stats.logger_events,
            self.stats.dead_letters,
            self.stats.batches,
            self.stats.acked,
        )
