"""Abuse of the MQTT side (issue #18 items 1, 10, 11), against a running ingestor on loopback.

Starts Mosquitto as envmon ships it (an account per station and logger, ACL, no anonymous
client; ingest/mqtt/broker.py) and `envmon mqtt run` as its own process, then:

1. an anonymous client tries to connect and publish;
2. station A publishes to station B's topic with its own (valid) account;
3. station A publishes the poison message on its own topic: about 188 KB, 12,500 unknown
   parameter names (`--copies` times);
4. station A publishes a payload one byte over `mqtt_max_payload_bytes`;
5. station A publishes one valid reading,

waits (bounded) until the valid reading is in the landing zone, optionally loads the landing
zone into the warehouse, and prints the ingestor's peak RSS (VmHWM, before and after the
attacks), the dead letters created (count, raw bytes), landing files created, what was refused
and that the valid reading landed.

    .venv/bin/python bench/abuse_mqtt.py [--copies 1] [--values 12500] [--no-load]

`--ingest-path DIR` puts DIR first on the ingestor's PYTHONPATH (e.g. an export of an older
`ingest/` package, to measure the behaviour before a change). `run(home, ...)` returns the
figures as a dict for bench/abuse.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402

from core.landing import DEAD_LETTERS, READINGS, LandingZone  # noqa: E402
from core.registry.config import load_registry  # noqa: E402
from core.settings import load_settings  # noqa: E402
from ingest.mqtt.accounts import ensure_accounts  # noqa: E402
from ingest.mqtt.broker import Broker  # noqa: E402
from ingest.mqtt.topics import station_topic  # noqa: E402
from sim.publisher import Publisher, PublishError  # noqa: E402

SITE_A, SITE_B = "dongsi", "tiantan"
PERIOD = "2024-05-01T08:00:00+08:00"


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


def poison_payload(n_values: int) -> bytes:
    values = {f"zz{i:05d}x": 1.5 for i in range(n_values)}
    body = {"site": SITE_A, "period_start": PERIOD, "interval_s": 3600, "values": values}
    return json.dumps(body, separators=(",", ":")).encode()


def _landing_state(zone: LandingZone) -> dict[str, Any]:
    dead, dead_bytes, valid = 0, 0, 0
    reading_files = zone.list_batches(READINGS)
    dead_files = zone.list_batches(DEAD_LETTERS)
    for rel in dead_files:
        t = pq.read_table(zone.full_path(rel), columns=["raw"])
        dead += t.num_rows
        dead_bytes += sum(len(r) for r in t.column("raw").to_pylist())
    for rel in reading_files:
        t = pq.read_table(zone.full_path(rel), columns=["site_id", "parameter", "value"])
        valid += sum(
            1
            for s, p, v in zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True)
            if (s, p, v) == (SITE_A, "pm25", 42.0)
        )
    return {
        "dead_letters": dead,
        "dead_letter_raw_bytes": dead_bytes,
        "reading_files": len(reading_files),
        "dead_letter_files": len(dead_files),
        "valid_reading_landed": valid > 0,
    }


def run(
    home: str | os.PathLike[str],
    *,
    copies: int = 1,
    n_values: int = 12_500,
    load: bool = True,
    ingest_path: str | None = None,
    timeout_s: float = 180.0,
) -> dict[str, Any]:
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings({"ENVMON_HOME": str(home)})
    registry = load_registry(settings.config_dir)
    accounts = ensure_accounts(home, registry)
    a = accounts.station(SITE_A)
    result: dict[str, Any] = {"refused": []}
    broker = Broker(
        home / "mosquitto", accounts=accounts, max_packet_bytes=4 * settings.mqtt_max_payload_bytes
    ).start()
    env = {
        **os.environ,
        "ENVMON_HOME": str(home),
        "ENVMON_MQTT_HOST": broker.host,
        "ENVMON_MQTT_PORT": str(broker.port),
        "ENVMON_MQTT_USERNAME": accounts.ingestor.username,
        "ENVMON_MQTT_PASSWORD": accounts.ingestor.password,
    }
    if ingest_path:
        env["PYTHONPATH"] = os.pathsep.join([ingest_path, str(REPO)])
    log_path = home / "ingestor.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "envmon",
            "mqtt",
            "run",
            "--client-id",
            "abuse",
            "--batch-wait",
            "0.2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ingest_path or REPO,
    )
    zone = LandingZone(settings.landing_root)
    try:
        deadline = time.monotonic() + 60
        while "connected" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the ingestor did not connect; see {log_path}")
            time.sleep(0.1)
        result["rss_before_kib"] = _status(proc.pid)

        # 1. anonymous
        anon = Publisher(broker.host, broker.port, client_id="abuse-anonymous")
        try:
            anon.wait_connected(3)
            anon.publish(station_topic("air", SITE_B), b"{}")
            anon.flush(5)
            result["refused"].append("anonymous: NOT refused")
        except PublishError as exc:
            result["refused"].append(f"anonymous connect: {exc}")
        anon.close()

        pub = Publisher(broker.host, broker.port, username=a.username, password=a.password)
        pub.wait_connected()
        # 2. another station's topic
        pub.publish(station_topic("air", SITE_B), b'{"values":{"pm25":1}}')
        pub.flush(30)
        result["refused"].append(
            f"{a.username} publishing to {station_topic('air', SITE_B)}: "
            f"{pub.refused} refused ({pub.refusal})"
        )
        # 3. the poison, 4. one byte too many, 5. the valid reading
        poison = poison_payload(n_values)
        result["poison_bytes"] = len(poison)
        result["poison_values"] = n_values
        for _ in range(copies):
            pub.publish(station_topic("air", SITE_A), poison)
        big = b" " * (settings.mqtt_max_payload_bytes + 1)
        pub.publish(station_topic("air", SITE_A), big)
        valid = json.dumps(
            {"site": SITE_A, "period_start": PERIOD, "interval_s": 3600, "values": {"pm25": 42}}
        ).encode()
        t0 = time.monotonic()
        pub.publish(station_topic("air", SITE_A), valid)
        pub.flush(timeout_s)
        pub.close()
        deadline = time.monotonic() + timeout_s
        state = _landing_state(zone)
        while not state["valid_reading_landed"] or state["dead_letters"] < copies + 1:
            if time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.2)
            state = _landing_state(zone)
        result["valid_landed_after_s"] = round(time.monotonic() - t0, 2)
        result["rss_after_kib"] = _status(proc.pid)
        result.update(state)
        result["ingestor_alive"] = proc.poll() is None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        broker.stop()
    text = log_path.read_text(errors="replace")
    result["ingestor_exit"] = proc.returncode
    result["tracebacks_in_log"] = text.count("Traceback")
    if load:
        from warehouse.db import connect
        from warehouse.jobs import init_warehouse, load_landing_job, load_registry_job

        os.environ["ENVMON_HOME"] = str(home)
        from core.settings import reset_settings_cache

        reset_settings_cache()
        init_warehouse(settings)
        load_registry_job(settings)
        t = time.monotonic()
        load_landing_job(settings)
        result["load_s"] = round(time.monotonic() - t, 2)
        with connect(settings, write=False, purpose="bench") as con:
            result["warehouse_valid_reading"] = con.execute(
                "SELECT count(*) FROM readings WHERE site_id = ? AND parameter = 'pm25' "
                "AND value = 42",
                [SITE_A],
            ).fetchone()[0]
            result["warehouse_dead_letters"] = con.execute(
                "SELECT count(*) FROM dead_letters"
            ).fetchone()[0]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=1, help="poison messages sent (default 1)")
    ap.add_argument("--values", type=int, default=12_500, help="unknown names in the poison")
    ap.add_argument("--no-load", action="store_true", help="do not load into a warehouse")
    ap.add_argument("--ingest-path", help="put this first on the ingestor's PYTHONPATH")
    ap.add_argument("--home", help="state folder (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="envmon-abuse-mqtt-") as tmp:
        r = run(
            args.home or tmp,
            copies=min(args.copies, 100),
            n_values=args.values,
            load=not args.no_load,
            ingest_path=args.ingest_path,
        )
    mb = 1024
    print(f"poison: {r['poison_bytes']} bytes, {r['poison_values']} unknown names, x{args.copies}")
    print(
        f"ingestor peak RSS: {r['rss_before_kib']['VmHWM'] / mb:.0f} MB before the attacks, "
        f"{r['rss_after_kib']['VmHWM'] / mb:.0f} MB after (RSS now {r['rss_after_kib']['VmRSS'] / mb:.0f} MB)"
    )
    print(
        f"dead letters: {r['dead_letters']} ({r['dead_letter_raw_bytes']} raw bytes) in "
        f"{r['dead_letter_files']} files; reading files: {r['reading_files']}"
    )
    for line in r["refused"]:
        print(f"refused: {line}")
    print(
        f"valid reading landed: {r['valid_reading_landed']} "
        f"({r['valid_landed_after_s']} s after it was published)"
    )
    if "load_s" in r:
        print(
            f"envmon load: {r['load_s']} s; valid reading in the warehouse: "
            f"{r['warehouse_valid_reading']}; dead letters there: {r['warehouse_dead_letters']}"
        )
    print(
        f"ingestor alive through it: {r['ingestor_alive']}, exit {r['ingestor_exit']}, "
        f"tracebacks in its log: {r['tracebacks_in_log']}"
    )


if __name__ == "__main__":
    main()
