"""`envmon simulate stations` (MQTT station readings, or Beijing replay) and `simulate loggers` (HJ 212 over TCP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from envmon.settings import get_settings
from ingest.mqtt.publisher import Publisher, publish_paced
from ingest.mqtt.simulator import SimOptions, StationSimulator
from warehouse.registry.config import load_registry

simulate_app = typer.Typer(
    help="Simulators that act like real stations and loggers.", no_args_is_help=True
)


@simulate_app.command("stations")
def stations(
    host: Annotated[
        str | None, typer.Option(help="broker host (default: settings mqtt_host)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="broker port (default: settings mqtt_port)")
    ] = None,
    days: Annotated[float, typer.Option(min=0.0, help="days of data, ending now")] = 1.0,
    start: Annotated[
        datetime | None,
        typer.Option(help="first period start (UTC unless an offset is given); default now - days"),
    ] = None,
    speedup: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="simulated seconds per real second (86400: a day in a second); 0 = as fast as possible",
        ),
    ] = 0.0,
    rate: Annotated[
        float, typer.Option(min=0.0, help="at most this many messages a second; 0 = no limit")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    gap_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of messages and values left out")
    ] = 0.01,
    fault_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of values from a faulty sensor (flag D)")
    ] = 0.003,
    kinds: Annotated[str, typer.Option(help="comma-separated site kinds")] = "air,water,noise",
    replay_beijing: Annotated[
        Path | None, typer.Option(help="replay the Beijing PRSA CSVs of this folder instead")
    ] = None,
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
        sim = StationSimulator(
            registry,
            SimOptions(
                seed=seed,
                gap_rate=gap_rate,
                fault_rate=fault_rate,
                kinds=tuple(k.strip() for k in kinds.split(",")),
            ),
        )
        messages = sim.messages(begin, min(begin + timedelta(days=days), now))
    publisher = Publisher(
        host or settings.mqtt_host,
        port or settings.mqtt_port,
        username=username,
        password=password,
        tls_ca=tls_ca,
    )
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
    typer.echo(
        f"published {result.messages} messages ({readings} readings) in {result.seconds:.1f} s, all acknowledged"
    )


@simulate_app.command("loggers")
def loggers(
    host: Annotated[str, typer.Option(help="HJ 212 server host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HJ 212 server port")] = 9212,
    days: Annotated[
        float, typer.Option(min=0.0, help="days of data, ending at the last full hour")
    ] = 1.0,
    start: Annotated[
        datetime | None,
        typer.Option(help="first period start (UTC unless an offset is given); default end - days"),
    ] = None,
    speedup: Annotated[
        float,
        typer.Option(
            min=0.0, help="simulated seconds per real second; 0 = replay as fast as possible"
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    outlets: Annotated[
        str | None, typer.Option(help="comma-separated outlet site ids (default: every outlet)")
    ] = None,
    realtime_s: Annotated[
        int, typer.Option(min=0, help="also send real-time data (2011) every N seconds; 0 = no")
    ] = 0,
    gap_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of minutes with no data")
    ] = 0.002,
    outage_rate: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="chance per logger-hour of a link outage and reconnect"
        ),
    ] = 0.02,
    exceed_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="chance per outlet-hour of an exceedance episode"),
    ] = 0.01,
    corrupt_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of packets also sent damaged (bad CRC)")
    ] = 0.0,
) -> None:
    """Act as the data loggers of the registry's outlets: send minute/hourly HJ 212 data over TCP."""
    import asyncio

    from ingest.hj212.simulator import LoggerSimOptions, LoggerSimulator

    settings = get_settings()
    registry = load_registry(settings.config_dir)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    begin = start or end - timedelta(days=days)
    stop = min(begin + timedelta(days=days), end) if days else end
    opts = LoggerSimOptions(
        seed=seed,
        speedup=speedup,
        realtime_s=realtime_s,
        gap_rate=gap_rate,
        outage_rate=outage_rate,
        exceed_rate=exceed_rate,
        corrupt_rate=corrupt_rate,
    )
    chosen = [s.strip() for s in outlets.split(",")] if outlets else None
    try:
        sim = LoggerSimulator(registry, begin, stop, opts, chosen)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--outlets") from None
    report = asyncio.run(sim.run(host, port))
    typer.echo(
        f"{report.loggers} loggers sent {report.packets} packets ({report.readings} readings) in {report.seconds:.1f} s; "
        f"{report.acks} answered, {report.resends} resent, {report.unacknowledged} unanswered; "
        f"{report.history_requests} history requests ({report.history_packets} packets re-sent); "
        f"{report.outages} outages, {report.corrupt} damaged packets; {report.expected_readings} readings generated"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(simulate_app, name="simulate")
