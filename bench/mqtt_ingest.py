"""Benchmark: MQTT ingestion end to end (publish -> durable landing, QoS 1) vs mosquitto_sub.

Prints figures only; asserts nothing about timing. Runs its own Mosquitto on a free port.

    .venv/bin/python bench/mqtt_ingest.py [--days 60] [--long-rounds 30]

The stream is the station simulator's (every air, water and noise station of the registry,
one message per site and period). A separate publisher process sends it with QoS 1 as fast
as the broker acknowledges (pre-encoded packets on a raw socket, so that the load generator
is not what limits the rate). Measured, each for the ingestor and for `mosquitto_sub -q 1`
on the same stream in the same run:

- live (the headline): the consumer is subscribed while the stream is published; time from
  the first publish to the last reading durable (ingestor: written, fsynced, renamed and
  acknowledged) or the last message received (mosquitto_sub).
- drain: the stream is queued at the broker while the consumer is offline (persistent
  session), then the consumer connects and empties it; this isolates the consumer.
- long run: the stream `--long-rounds` times without a pause (one publisher) into one
  ingestor; its RSS is sampled every two seconds, to show that memory stays flat.

The ingestor runs as `envmon mqtt run --batch-wait 0.2` would (plain persistent
subscription, batches of 2000 messages or 0.2 s), in this process. Every consumer has its own client
id, and its session is removed after its phase: a stopped persistent session would otherwise
keep a queue of every later phase's messages at the broker.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from core.landing import LandingZone  # noqa: E402
from core.registry.config import load_registry  # noqa: E402
from ingest.mqtt.broker import Broker  # noqa: E402
from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor  # noqa: E402
from sim.station_simulator import SimOptions, StationSimulator  # noqa: E402

TOPICS = "envmon/v1/#"
READINGS_TARGET = 30_000  # readings/s, issue #4
RATIO_TARGET = 0.5  # of the mosquitto_sub rate, issue #4


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def write_stream(path: Path, days: int, seed: int) -> tuple[int, int]:
    """topic<TAB>payload lines; returns (messages, readings)."""
    registry = load_registry(REPO / "config")
    end = datetime(2025, 1, 1, tzinfo=UTC)
    sim = StationSimulator(registry, SimOptions(seed=seed, gap_rate=0.0, fault_rate=0.003))
    n = readings = 0
    with path.open("wb") as fh:
        for m in sim.messages(end - timedelta(days=days), end):
            fh.write(m.topic.encode() + b"\t" + m.payload + b"\n")
            n += 1
            readings += m.readings
    return n, readings


# -- the load generator (child process) ------------------------------------------------------
def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_str(b: bytes) -> bytes:
    return len(b).to_bytes(2, "big") + b


def encode_publishes(lines: list[bytes], per_write: int = 256) -> list[tuple[int, bytes]]:
    """QoS 1 PUBLISH packets (MQTT 3.1.1), packet ids 1..65535 in turn, joined per write."""
    writes, buf, mid = [], [], 0
    for line in lines:
        topic, payload = line.split(b"\t", 1)
        mid = mid % 65535 + 1
        body = _mqtt_str(topic) + mid.to_bytes(2, "big") + payload
        buf.append(b"\x32" + _remaining_length(len(body)) + body)
        if len(buf) == per_write:
            writes.append((len(buf), b"".join(buf)))
            buf = []
    if buf:
        writes.append((len(buf), b"".join(buf)))
    return writes


def publish_file(path: str, host: str, port: int, repeat: int = 1, window: int = 30_000) -> None:
    """(Child process.) Publish the stream file `repeat` times with QoS 1; wait for every PUBACK.

    At most `window` messages await their PUBACK, and packet ids run 1..n over a stream of
    n <= 65535 messages, so an id is never reused while in flight.
    """
    lines = Path(path).read_bytes().splitlines()
    if len(lines) > 65535 and repeat > 1:
        raise SystemExit(
            "publisher: repeating a stream of more than 65535 messages would reuse packet ids"
        )
    window = min(window, len(lines))
    writes = encode_publishes(lines)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    var = (
        _mqtt_str(b"MQTT")
        + bytes((4, 0x02))
        + (60).to_bytes(2, "big")
        + _mqtt_str(b"bench-publisher")
    )
    sock.sendall(b"\x10" + _remaining_length(len(var)) + var)
    connack = sock.recv(4)
    if connack[:2] != b"\x20\x02" or connack[3] != 0:
        raise SystemExit(f"publisher: broker refused the connection: {connack!r}")
    acked = 0
    cond = threading.Condition()

    def read_pubacks() -> None:  # the broker sends nothing but 4-byte PUBACKs from here on
        nonlocal acked
        carry = 0
        while data := sock.recv(1 << 16):
            carry += len(data)
            with cond:
                acked += carry // 4
                cond.notify_all()
            carry %= 4

    threading.Thread(target=read_pubacks, daemon=True).start()
    print("start", flush=True)  # the parent times from here: not our start-up
    t0 = time.monotonic()
    sent = 0
    for n, data in writes * repeat:
        with cond:
            while sent - acked > window:
                cond.wait()
        sock.sendall(data)
        sent += n
    with cond:
        while acked < sent:
            cond.wait()
    print(f"{sent / (time.monotonic() - t0):.0f}", flush=True)  # the publisher's own msgs/s
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


def start_publisher(
    stream: Path, broker: Broker, repeat: int = 1
) -> tuple[subprocess.Popen[str], float]:
    """The publisher process and the monotonic time it started publishing."""
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--publish-file",
            str(stream),
            "--port",
            str(broker.port),
            "--repeat",
            str(repeat),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "start":
        raise SystemExit("publisher failed to start")
    return proc, time.monotonic()


def publish_and_wait(stream: Path, broker: Broker) -> None:
    proc, _ = start_publisher(stream, broker)
    if proc.wait() != 0:
        raise SystemExit("publisher failed")


# -- mosquitto_sub, the baseline -----------------------------------------------------------
def mosquitto_sub(broker: Broker, n: int, *extra: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        raise SystemExit("mosquitto_sub is missing: apt-get install mosquitto-clients")
    return subprocess.Popen(
        [
            binary,
            "-h",
            broker.host,
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-t",
            TOPICS,
            "-C",
            str(n),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
    )


def sub_live(broker: Broker, stream: Path, n: int) -> float:
    sub = mosquitto_sub(broker, n)
    time.sleep(1.0)  # let it connect and subscribe
    pub, t0 = start_publisher(stream, broker)
    sub.wait()
    dt = time.monotonic() - t0
    pub.wait()
    return dt


def sub_drain(broker: Broker, stream: Path, n: int) -> float:
    session = ("-c", "-i", "bench-sub", "-V", "mqttv5", "-x", "3600")
    binary = shutil.which("mosquitto_sub") or "mosquitto_sub"
    subprocess.run(
        [
            binary,
            "-h",
            broker.host,
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-t",
            TOPICS,
            "-E",
            *session,
        ],
        check=True,
    )
    publish_and_wait(stream, broker)
    t0 = time.monotonic()
    mosquitto_sub(broker, n, *session).wait()
    dt = time.monotonic() - t0
    forget_session(broker, "bench-sub")
    return dt


def forget_session(broker: Broker, client_id: str) -> None:
    """Remove a client's session (and its subscriptions) from the broker."""
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
    )
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    client.connect(broker.host, broker.port, clean_start=True, properties=props)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


# -- the ingestor ------------------------------------------------------------------------
class IngestorRun:
    def __init__(self, broker: Broker, landing: Path, client_id: str, batch_messages: int):
        registry = load_registry(REPO / "config")
        config = IngestorConfig(
            host=broker.host,
            port=broker.port,
            client_id=client_id,
            batch_messages=batch_messages,
            batch_wait_s=0.2,
        )
        self.ingestor = MqttIngestor(config, registry, LandingZone(landing))

    def start(self) -> IngestorRun:
        self.ingestor.start()
        if not self.ingestor.connected.wait(15):
            raise SystemExit("ingestor could not connect")
        return self

    def wait_durable(self, readings: int, messages: int) -> None:
        """Until `readings` are written and `messages` acknowledged."""
        stats = self.ingestor.stats
        while stats.readings < readings or stats.acked < messages:
            time.sleep(0.01)

    def stop(self) -> None:
        self.ingestor.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--days", type=int, default=60, help="days of the simulated network per stream")
    ap.add_argument(
        "--long-rounds", type=int, default=30, help="times the stream is sent in the long run"
    )
    ap.add_argument("--batch-messages", type=int, default=2000)
    ap.add_argument("--publish-file", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publish_file:
        publish_file(args.publish_file, "127.0.0.1", args.port, args.repeat)
        return

    tmp = Path(tempfile.mkdtemp(prefix="envmon-bench-"))
    stream = tmp / "stream.tsv"
    n_msgs, n_readings = write_stream(stream, args.days, seed=1)
    print(
        f"stream: {n_msgs} messages, {n_readings} readings ({n_readings / n_msgs:.1f} readings/message), "
        f"{stream.stat().st_size / 1e6:.1f} MB of payload"
    )

    def fig(label: str, seconds: float) -> float:
        rps = n_readings / seconds
        print(
            f"  {label:<34} {seconds:6.2f} s  {n_msgs / seconds:9.0f} msgs/s  {rps:9.0f} readings/s"
        )
        return rps

    with Broker(tmp / "broker", anonymous=True) as broker:
        print("live (publisher running concurrently; the headline):")
        sub_live_rps = fig("mosquitto_sub -q 1", sub_live(broker, stream, n_msgs))
        run = IngestorRun(broker, tmp / "landing-live", "bench-live", args.batch_messages).start()
        pub, t0 = start_publisher(stream, broker)
        run.wait_durable(n_readings, n_msgs)
        ing_live_rps = fig("ingestor (durable + acked)", time.monotonic() - t0)
        pub.wait()
        run.stop()
        forget_session(broker, "bench-live")

        print("drain (stream queued while the consumer was offline):")
        sub_drain_rps = fig("mosquitto_sub -q 1", sub_drain(broker, stream, n_msgs))
        # Create the session, then leave: the stream queues for it.
        IngestorRun(
            broker, tmp / "landing-drain", "bench-drain", args.batch_messages
        ).start().stop()
        publish_and_wait(stream, broker)
        run = IngestorRun(broker, tmp / "landing-drain", "bench-drain", args.batch_messages)
        # Timed from the connect (like mosquitto_sub), not from loading the registry.
        t0 = time.monotonic()
        run.start().wait_durable(n_readings, n_msgs)
        ing_drain_rps = fig("ingestor (durable + acked)", time.monotonic() - t0)
        run.stop()
        forget_session(broker, "bench-drain")

        live_ratio, drain_ratio = ing_live_rps / sub_live_rps, ing_drain_rps / sub_drain_rps
        print(f"ratio ingestor / mosquitto_sub: live {live_ratio:.0%}, drain {drain_ratio:.0%}")
        print(
            f"targets (live): >= {READINGS_TARGET} readings/s: {ing_live_rps:.0f} "
            f"{'met' if ing_live_rps >= READINGS_TARGET else 'NOT met'}; "
            f">= {RATIO_TARGET:.0%} of mosquitto_sub: {live_ratio:.0%} "
            f"{'met' if live_ratio >= RATIO_TARGET else 'NOT met'}"
        )

        print(
            f"long run: the stream {args.long_rounds} times without a pause into one ingestor, "
            "its RSS (MB) every 2 s:"
        )
        run = IngestorRun(broker, tmp / "landing-long", "bench-long", args.batch_messages).start()
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample_rss() -> None:
            t_start = time.monotonic()
            while True:
                samples.append((time.monotonic() - t_start, rss_mb()))
                if done.wait(2.0):
                    return

        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        pub, t0 = start_publisher(stream, broker, repeat=args.long_rounds)
        run.wait_durable(n_readings * args.long_rounds, n_msgs * args.long_rounds)
        dt = time.monotonic() - t0
        pub.wait()
        done.set()
        sampler.join()
        run.stop()
        forget_session(broker, "bench-long")
        print("  " + ", ".join(f"{t:.0f}s:{mb:.0f}" for t, mb in samples))
        half = len(samples) // 2
        total = args.long_rounds * n_readings
        print(
            f"  {total} readings in {dt:.0f} s ({total / dt:.0f} readings/s sustained); "
            f"RSS max {max(mb for _, mb in samples):.0f} MB, "
            f"max of the first half of the run {max(mb for _, mb in samples[:half]):.0f} MB, "
            f"of the second half {max(mb for _, mb in samples[half:]):.0f} MB"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
