"""`envmon simulate stations`: publish realistic station readings (or replay Beijing data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from envmon.settings import get_settings
from ingest.mqtt.publisher import Publisher, publish_paced
from ingest.mqtt.simulator import SimOptions, StationSimulator
from warehouse.registry.config import load_registry

simulate_app = typer.Typer(help="Simulators that act like real stations and loggers.", no_args_is_help=True)


@simulate_app.command("stations")
def stations(
    host: Annotated[str | None, typer.Option(help="broker host (default: settings mqtt_host)")] = None,
    port: Annotated[int | None, typer.Option(help="broker port (default: settings mqtt_port)")] = None,
    days: Annotated[float, typer.Option(min=0.0, help="days of data, ending now")] = 1.0,
    start: Annotated[datetime | None, typer.Option(help="first period start (UTC unless an offset is given); default now - days")] = None,
    speedup: Annotated[float, typer.Option(min=0.0, help="simulated seconds per real second (86400: a day in a second); 0 = as fast as possible")] = 0.0,
    rate: Annotated[float, typer.Option(min=0.0, help="at most this many messages a second; 0 = no limit")] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    gap_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of messages and values left out")] = 0.01,
    fault_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="share of values from a faulty sensor (flag D)")] = 0.003,
    kinds: Annotated[str, typer.Option(help="comma-separated site kinds")] = "air,water,noise",
    replay_beijing: Annotated[Path | None, typer.Option(help="replay the Beijing PRSA CSVs of this folder instead")] = None,
    username: Annotated[str | None, typer.Option(envvar="ENVMON_MQTT_USERNAME")] = None,
    password: Annotated[str | None, typer.Option(envvar="ENVMON_MQTT_PASSWORD")] = None,
    tls_ca: Annotated[str | None, typer.Option(help="CA bundle; turns TLS on")] = None,
) -> None:
    """Publish station readings over MQTT (QoS 1) at a chosen speed-up; returns when all are acknowledged."""
    settings = get_settings()
    registry = load_registry(settings.config_dir)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if replay_beijing is not None:
        from ingest.mqtt.beijing import beijing_messages

        end = start + timedelta(days=days) if start is not None and days else None
        messages = beijing_messages(replay_beijing, registry, start, end)
    else:
        now = datetime.now(UTC)
        begin = start or now - timedelta(days=days)
        sim = StationSimulator(registry, SimOptions(seed=seed, gap_rate=gap_rate, fault_rate=fault_rate,
                                                    kinds=tuple(k.strip() for k in kinds.split(","))))
        messages = sim.messages(begin, min(begin + timedelta(days=days), now))
    publisher = Publisher(host or settings.mqtt_host, port or settings.mqtt_port,
                          username=username, password=password, tls_ca=tls_ca)
    publisher.wait_connected()
    readings = 0

    def stream():  # type: ignore[no-untyped-def]
        nonlocal readings
        for m in messages:
            readings += m.readings
            yield m.topic, m.payload, m.period_start.timestamp()

    try:
        result = publish_paced(publisher, stream(), speedup=speedup or None, rate=rate or None)
    finally:
        publisher.close()
    typer.echo(f"published {result.messages} messages ({readings} readings) in {result.seconds:.1f} s, all acknowledged")


def register(app: typer.Typer) -> None:
    app.add_typer(simulate_app, name="simulate")
