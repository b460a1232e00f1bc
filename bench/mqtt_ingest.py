"""Benchmark: MQTT ingestion end to end (publish -> durable landing, QoS 1) vs mosquitto_sub.

Prints figures only; asserts nothing about timing. Runs its own Mosquitto on a free port.

    .venv/bin/python bench/mqtt_ingest.py [--days 60] [--rounds 3]

Two measurements, each for the ingestor and for `mosquitto_sub -q 1` on the same stream:
- live: the consumer is subscribed while a publisher process sends the stream as fast as the
  broker acknowledges it; time from the first publish to the last reading durable (ingestor:
  written, fsynced and acknowledged) or the last message received (mosquitto_sub).
- drain: the stream is queued at the broker while the consumer is offline (persistent
  session), then the consumer connects and empties it; this isolates the consumer's capacity.
Then a long run (`--rounds` live streams back to back) prints the ingestor's RSS over time.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.landing import LandingZone  # noqa: E402
from ingest.mqtt.broker import Broker  # noqa: E402
from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor  # noqa: E402
from ingest.mqtt.publisher import Publisher  # noqa: E402
from ingest.mqtt.simulator import SimOptions, StationSimulator  # noqa: E402
from warehouse.registry.config import load_registry  # noqa: E402

TOPICS = "envmon/v1/#"


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


def publish_file(path: str, host: str, port: int) -> None:
    """(Run in a child process.) Publish every line of the stream file with QoS 1."""
    lines = Path(path).read_bytes().splitlines()
    pub = Publisher(host, port, inflight=2000)
    pub.wait_connected()
    print("start", flush=True)  # the parent times from here: not our start-up
    t0 = time.monotonic()
    for line in lines:
        topic, payload = line.split(b"\t", 1)
        pub.publish(topic.decode(), payload)
    pub.flush()
    print(f"{len(lines) / (time.monotonic() - t0):.0f}", flush=True)  # publisher's own msgs/s
    pub.close()


def start_publisher(stream: Path, broker: Broker) -> tuple[subprocess.Popen[str], float]:
    """The publisher process and the monotonic time it started publishing."""
    proc = subprocess.Popen([sys.executable, __file__, "--publish-file", str(stream), "--port", str(broker.port)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "start":
        raise SystemExit("publisher failed to start")
    return proc, time.monotonic()


def mosquitto_sub(broker: Broker, n: int, *extra: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        raise SystemExit("mosquitto_sub is missing: apt-get install mosquitto-clients")
    return subprocess.Popen([binary, "-h", broker.host, "-p", str(broker.port), "-q", "1", "-t", TOPICS,
                             "-C", str(n), *extra], stdout=subprocess.DEVNULL)


def sub_live(broker: Broker, stream: Path, n: int) -> float:
    sub = mosquitto_sub(broker, n)
    time.sleep(1.0)  # let it subscribe
    pub, t0 = start_publisher(stream, broker)
    sub.wait()
    dt = time.monotonic() - t0
    pub.wait()
    return dt


def sub_drain(broker: Broker, stream: Path, n: int) -> float:
    session = ("-c", "-i", "bench-sub", "-V", "mqttv5", "-x", "3600")
    subprocess.run([shutil.which("mosquitto_sub") or "mosquitto_sub", "-h", broker.host, "-p", str(broker.port),
                    "-q", "1", "-t", TOPICS, "-E", *session], check=True)
    start_publisher(stream, broker)[0].wait()
    t0 = time.monotonic()
    mosquitto_sub(broker, n, *session).wait()
    return time.monotonic() - t0


class IngestorRun:
    def __init__(self, broker: Broker, landing: Path, client_id: str, batch_messages: int):
        registry = load_registry(REPO / "config")
        config = IngestorConfig(host=broker.host, port=broker.port, client_id=client_id,
                                batch_messages=batch_messages, batch_wait_s=0.2)
        self.ingestor = MqttIngestor(config, registry, LandingZone(landing))
        self.ingestor.start()
        if not self.ingestor.connected.wait(15):
            raise SystemExit("ingestor could not connect")

    def wait_readings(self, target: int, samples: list[tuple[float, float]] | None = None, t0: float = 0.0) -> None:
        last = 0.0
        while self.ingestor.stats.readings < target:
            time.sleep(0.01)
            if samples is not None and time.monotonic() - last >= 2.0:
                last = time.monotonic()
                samples.append((last - t0, rss_mb()))

    def stop(self) -> None:
        self.ingestor.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=60, help="days of the simulated network per stream")
    ap.add_argument("--rounds", type=int, default=3, help="streams back to back in the long run")
    ap.add_argument("--batch-messages", type=int, default=2000)
    ap.add_argument("--publish-file", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.publish_file:
        publish_file(args.publish_file, "127.0.0.1", args.port)
        return

    tmp = Path(tempfile.mkdtemp(prefix="envmon-bench-"))
    stream = tmp / "stream.tsv"
    n_msgs, n_readings = write_stream(stream, args.days, seed=1)
    print(f"stream: {n_msgs} messages, {n_readings} readings ({n_readings / n_msgs:.1f} readings/message), "
          f"{stream.stat().st_size / 1e6:.1f} MB of payload")

    def fig(label: str, seconds: float) -> tuple[float, float]:
        mps, rps = n_msgs / seconds, n_readings / seconds
        print(f"  {label:<34} {seconds:6.2f} s  {mps:9.0f} msgs/s  {rps:9.0f} readings/s")
        return mps, rps

    with Broker(tmp / "broker") as broker:
        print("live (publisher running concurrently):")
        sub_live_mps, _ = fig("mosquitto_sub -q 1", sub_live(broker, stream, n_msgs))
        run = IngestorRun(broker, tmp / "landing-live", "bench-live", args.batch_messages)
        pub, t0 = start_publisher(stream, broker)
        run.wait_readings(n_readings)
        ing_live_mps, _ = fig("ingestor (durable + acked)", time.monotonic() - t0)
        pub.wait()
        run.stop()

        print("drain (stream queued while the consumer was offline):")
        sub_drain_mps, _ = fig("mosquitto_sub -q 1", sub_drain(broker, stream, n_msgs))
        first = IngestorRun(broker, tmp / "landing-drain", "bench-drain", args.batch_messages)
        first.stop()  # the session stays; the stream queues for it
        start_publisher(stream, broker)[0].wait()
        t0 = time.monotonic()
        run = IngestorRun(broker, tmp / "landing-drain", "bench-drain", args.batch_messages)
        run.wait_readings(n_readings)
        ing_drain_mps, _ = fig("ingestor (durable + acked)", time.monotonic() - t0)
        run.stop()

        print(f"ratio ingestor / mosquitto_sub (messages/s): live {ing_live_mps / sub_live_mps:.0%}, "
              f"drain {ing_drain_mps / sub_drain_mps:.0%}")

        print(f"long run: {args.rounds} streams back to back, ingestor RSS (MB) over time:")
        run = IngestorRun(broker, tmp / "landing-long", "bench-long", args.batch_messages)
        samples: list[tuple[float, float]] = [(0.0, rss_mb())]
        t0 = time.monotonic()
        for r in range(args.rounds):
            pub, _ = start_publisher(stream, broker)
            run.wait_readings(n_readings * (r + 1), samples, t0)
            pub.wait()
        dt = time.monotonic() - t0
        samples.append((dt, rss_mb()))
        run.stop()
        print("  " + ", ".join(f"{t:.0f}s:{mb:.0f}" for t, mb in samples))
        print(f"  {args.rounds * n_readings / dt:.0f} readings/s sustained over {dt:.0f} s; "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
