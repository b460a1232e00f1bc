"""HJ 212 over MQTT vs over TCP on the real capture: the same packets, the same rows? (review I3)

Takes hours of /work/shared/data/hj212_capture_2016-08-24, enrols its loggers into a copy of
the registry (ingest/hj212/onboarding.py: unknown_loggers + enrol_yaml, their habits detected
from the traffic), then sends every record of each logger
- over TCP to the HJ 212 server on a loopback port (one connection per logger), and
- over MQTT through a real Mosquitto (topic envmon/v1/hj212/{MN}) to the MQTT ingestor,
each into its own landing zone, and compares the readings (every column but received_at) and
the logger events. Prints the figures; exits 1 when the rows differ.

    .venv/bin/python bench/mqtt_hj212_parity.py [--hours 10 11] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CAPTURE = Path("/work/shared/data/hj212_capture_2016-08-24")
_MN = re.compile(rb";MN=([0-9A-Za-z_-]{1,40});")
COLUMNS = (
    "site_id", "parameter", "period_start", "interval_s", "source_kind", "value", "value_min",
    "value_max", "value_zs", "value_cou", "unit", "flag", "origin", "extra",
)  # fmt: skip
EVENT_COLUMNS = ("site_id", "mn", "cn", "event_time", "kind", "code", "status_code", "origin")


def rows_of(root: Path, kind: str, columns: tuple[str, ...]) -> list[tuple]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.landing import LandingZone

    zone = LandingZone(str(root))
    paths = zone.list_batches(kind)
    if not paths:
        return []
    t = pa.concat_tables([pq.read_table(zone.full_path(p)) for p in paths])
    return list(zip(*(t[c].to_pylist() for c in columns), strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--hours", nargs="+", default=["10"], help="capture hours (00, 04..23)")
    ap.add_argument("--keep", help="work in this directory and keep it")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="mqtt-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["ENVMON_HOME"] = str(work / "home")
    (work / "home").mkdir(exist_ok=True)

    import yaml

    from core.landing import LOGGER_EVENTS, READINGS, LandingZone
    from core.registry.config import load_registry
    from core.settings import get_settings
    from ingest.hj212.onboarding import enrol_yaml, unknown_loggers
    from ingest.hj212.server import Hj212Server, ServerConfig
    from ingest.mqtt.broker import Broker
    from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor
    from ingest.mqtt.topics import hj212_topic
    from sim.publisher import Publisher

    settings = get_settings()
    records: list[bytes] = []
    for hour in args.hours:
        data = gzip.decompress((CAPTURE / f"2016-08-24_{int(hour):02d}.h212.gz").read_bytes())
        records += [r for r in data.split(b"\r\n") if r]
    by_mn: dict[str, list[bytes]] = defaultdict(list)
    for r in records:
        if (m := _MN.search(r)) is not None:
            by_mn[m[1].decode()].append(r)
    n_sent = sum(map(len, by_mn.values()))

    t0 = time.monotonic()
    config = work / "config"
    shutil.rmtree(config, ignore_errors=True)
    shutil.copytree(REPO / "config", config)
    base = load_registry(config)
    stubs = enrol_yaml(unknown_loggers(records, base, settings.tz), base)
    (config / "registry" / "enterprises.enrolled.yaml").write_text(
        yaml.safe_dump(stubs, allow_unicode=True), encoding="utf-8"
    )
    registry = load_registry(config)
    enrolled = {mn for mn in by_mn if mn in registry.outlet_by_mn}
    print(
        f"capture hours {' '.join(args.hours)}: {len(records)} records, {n_sent} with an MN, "
        f"{len(by_mn)} loggers ({len(enrolled)} enrolled) in {time.monotonic() - t0:.1f} s"
    )

    # -- TCP --------------------------------------------------------------------------------
    tcp_root = work / "tcp"
    shutil.rmtree(tcp_root, ignore_errors=True)

    async def over_tcp() -> object:
        cfg = ServerConfig(host="127.0.0.1", port=0, backfill=False, batch_wait_s=0.2)
        server = Hj212Server(cfg, registry, LandingZone(str(tcp_root)), settings.home, settings.tz)
        await server.start()
        assert server._server is not None
        port = server._server.sockets[0].getsockname()[1]
        for stream in by_mn.values():
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"".join(r + b"\r\n" for r in stream))
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        deadline = time.monotonic() + 300
        while server.stats.records < n_sent and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await server.stop()
        return server.stats

    t0 = time.monotonic()
    tcp_stats = asyncio.run(over_tcp())
    tcp_s = time.monotonic() - t0

    # -- MQTT -------------------------------------------------------------------------------
    mqtt_root = work / "mqtt"
    shutil.rmtree(mqtt_root, ignore_errors=True)
    with Broker(work / "broker", anonymous=True) as broker:
        ingestor = MqttIngestor(
            IngestorConfig(host=broker.host, port=broker.port, client_id="parity"),
            registry,
            LandingZone(str(mqtt_root)),
        )
        ingestor.start()
        assert ingestor.connected.wait(15), "the ingestor did not connect"
        t0 = time.monotonic()
        pub = Publisher(broker.host, broker.port)
        pub.wait_connected()
        pub.publish_all((hj212_topic(mn), r) for mn, rs in by_mn.items() for r in rs)
        pub.close()
        deadline = time.monotonic() + 300
        while ingestor.stats.acked < n_sent and time.monotonic() < deadline:
            time.sleep(0.1)
        ingestor.stop()
        mqtt_s = time.monotonic() - t0
    ms = ingestor.stats

    tcp_r, mqtt_r = (
        set(rows_of(tcp_root, READINGS, COLUMNS)),
        set(rows_of(mqtt_root, READINGS, COLUMNS)),
    )
    tcp_e = set(rows_of(tcp_root, LOGGER_EVENTS, EVENT_COLUMNS))
    mqtt_e = set(rows_of(mqtt_root, LOGGER_EVENTS, EVENT_COLUMNS))
    print(
        f"TCP : {tcp_stats.records} records, {len(tcp_r)} distinct readings, {len(tcp_e)} logger "  # type: ignore[attr-defined]
        f"events, {tcp_stats.dead_letters} dead letters ({tcp_s:.1f} s)"  # type: ignore[attr-defined]
    )
    print(
        f"MQTT: {ms.messages} messages, {len(mqtt_r)} distinct readings, {len(mqtt_e)} logger "
        f"events, {ms.dead_letters} dead letters, {ms.acked} acked ({mqtt_s:.1f} s)"
    )
    only_tcp, only_mqtt = tcp_r - mqtt_r, mqtt_r - tcp_r
    print(
        f"readings: {len(tcp_r & mqtt_r)} identical, {len(only_tcp)} only over TCP, "
        f"{len(only_mqtt)} only over MQTT"
    )
    print(
        f"events  : {len(tcp_e & mqtt_e)} identical, {len(tcp_e - mqtt_e)} only over TCP, "
        f"{len(mqtt_e - tcp_e)} only over MQTT"
    )
    intervals: dict[int, int] = defaultdict(int)
    for r in mqtt_r:
        intervals[r[3]] += 1
    print("MQTT readings by interval_s:", dict(sorted(intervals.items())))
    for label, diff in (("only TCP", only_tcp), ("only MQTT", only_mqtt)):
        for r in sorted(diff, key=str)[:3]:
            print(f"  {label}: {r}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    same = not only_tcp and not only_mqtt and tcp_e == mqtt_e
    print("SAME" if same else "DIFFERENT")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
