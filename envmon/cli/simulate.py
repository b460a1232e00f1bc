"""`envmon simulate stations` (MQTT station readings, or Beijing replay) and `simulate loggers` (HJ 212 over TCP).

The registry and the simulators are imported when a command runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import EnvmonError
from core.periods import from_local_input, local_text, require_ended
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from sim.publisher import AccountPublisher, Publisher

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
        typer.Option(
            help="first period start, local time (the settings' zone, e.g. Asia/Shanghai) unless an "
            "offset is given: 2026-11-30T08:00 or 2026-11-30T08:00+08:00; not later than now; "
            "default now - days"
        ),
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
    from core.registry.config import load_registry

    settings = get_settings()
    now = _clock()
    if start is not None:  # typed by a person: local time unless an offset is given
        start = from_local_input(start, settings.tz)
        if start > now:  # the stations publish readings of times that have come
            raise EnvmonError(
                f"--start {local_text(start, settings.tz)} is later than now "
                f"({local_text(now, settings.tz)}): the stations publish readings of times that "
                "have come; give a start before now"
            )
    registry = load_registry(settings.config_dir)
    from sim.publisher import publish_paced
    from sim.station_simulator import SimOptions, StationSimulator

    if replay_beijing is not None:
        from sim.beijing_replay import beijing_messages

        end = start + timedelta(days=days) if start is not None and days else None
        messages = beijing_messages(replay_beijing, registry, start, end)
    else:
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
    publisher = station_publisher(
        settings, host or settings.mqtt_host, port or settings.mqtt_port, username, password, tls_ca
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
    refused = f"; {publisher.refused} refused by the broker" if publisher.refused else ""
    typer.echo(
        f"published {result.messages} messages ({readings} readings) in {result.seconds:.1f} s, "
        f"all acknowledged{refused}"
    )


def station_publisher(
    settings: Settings,
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    tls_ca: str | None = None,
) -> Publisher | AccountPublisher:
    """Each station publishes with its own account (`envmon mqtt broker-config`), unless a user
    name is given; without either, anonymously (a broker that allows it)."""
    from ingest.mqtt.accounts import credentials_path, load_accounts
    from sim.publisher import AccountPublisher, Publisher

    path = credentials_path(settings.home)
    if username is None and path.exists():
        return AccountPublisher(host, port, load_accounts(path), tls_ca=tls_ca)
    return Publisher(host, port, username=username, password=password, tls_ca=tls_ca)


@simulate_app.command("loggers")
def loggers(
    host: Annotated[str, typer.Option(help="HJ 212 server host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HJ 212 server port")] = 9212,
    days: Annotated[
        float, typer.Option(min=0.0, help="days of data, ending at the last full hour")
    ] = 1.0,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="first period start, local time (the settings' zone, e.g. Asia/Shanghai) unless an "
            "offset is given: 2026-11-30T08:00 or 2026-11-30T08:00+08:00; its hour must have "
            "ended; default end - days"
        ),
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
    minute_interval: Annotated[
        int | None,
        typer.Option(
            help="minute-data interval in seconds for every logger (60, 300, 600...); "
            "default: each logger's registry fact (minute_interval_s) or its edition's default"
        ),
    ] = None,
    hour_label: Annotated[
        str | None,
        typer.Option(
            help="start|end: DataTime is the period's start or end, for every logger; "
            "default: each logger's registry fact (hour_label) or its edition's default"
        ),
    ] = None,
    daily: Annotated[
        bool, typer.Option(help="also send the loggers' own daily values (2031) at local midnight")
    ] = True,
    running_status_s: Annotated[
        int,
        typer.Option(min=0, help="send running status (2021, SB1-RS) every N seconds; 0 = no"),
    ] = 600,
    reconnect_max_s: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="when the server is gone, keep reconnecting (bounded backoff, each attempt logged) "
            "for at most this long, then fail",
        ),
    ] = 120.0,
) -> None:
    """Act as the data loggers of the registry's outlets: send minute/hourly/daily HJ 212 data and
    running status over TCP; reconnect and resend what was not answered when the server goes away."""
    import asyncio
    import logging

    from sim.hj212_simulator import (
        LoggerHabits,
        LoggerSimOptions,
        LoggerSimulator,
        SimulatorConnectionError,
    )

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if minute_interval is not None or hour_label is not None:
        try:  # checked here so that a wrong value names its option
            LoggerHabits(minute_interval or 60, hour_label or "start")
        except ValueError as exc:
            hint = "--minute-interval" if "interval" in str(exc) else "--hour-label"
            raise typer.BadParameter(str(exc), param_hint=hint) from None

    from core.registry.config import load_registry

    settings = get_settings()
    registry = load_registry(settings.config_dir)
    now = _clock()
    end = now.replace(minute=0, second=0, microsecond=0)
    if start is not None:  # typed by a person: local time unless an offset is given
        start = from_local_input(start, settings.tz)
        # the loggers send hours that have ended: refuse a start in the future
        first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        require_ended(first, first + timedelta(hours=1), now, "the first hour of --start", settings.tz,
                      "the loggers send the data of hours that have ended")
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
        daily=daily,
        running_status_s=running_status_s,
        reconnect_max_s=reconnect_max_s,
        minute_interval_s=minute_interval,
        hour_label=hour_label,
    )
    chosen = [s.strip() for s in outlets.split(",")] if outlets else None
    try:
        sim = LoggerSimulator(registry, begin, stop, opts, chosen)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--outlets") from None
    try:
        report = asyncio.run(sim.run(host, port))
    except SimulatorConnectionError as exc:
        typer.echo(f"envmon simulate loggers: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{report.loggers} loggers sent {report.packets} packets ({report.readings} readings) and "
        f"{report.status_packets} running-status packets in {report.seconds:.1f} s; "
        f"{report.acks} answered, {report.resends} resent, {report.unacknowledged} unanswered; "
        f"{report.reconnects} reconnects ({report.connect_failures} failed attempts); "
        f"{report.history_requests} history requests ({report.history_packets} packets re-sent); "
        f"{report.outages} outages, {report.corrupt} damaged packets; {report.expected_readings} readings generated"
    )


def _clock() -> datetime:
    """Now, read once at the command's boundary (tests replace it)."""
    return datetime.now(UTC)


def register(app: typer.Typer) -> None:
    app.add_typer(simulate_app, name="simulate")
