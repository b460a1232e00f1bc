"""`envmon hj212 ...`: HJ 212 logger protocol tools: parse packets, run the TCP server, replay traffic."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

hj212_app = typer.Typer(
    name="hj212", help="HJ 212 data-logger protocol tools.", no_args_is_help=True
)


@hj212_app.command("parse")
def parse(
    file: Annotated[
        str, typer.Argument(help="packet file, one per line (gzip ok); '-' = stdin")
    ] = "-",
) -> None:
    """Parse HJ 212 packets and print one JSON object per packet; exit 1 if any is rejected."""
    from ingest.hj212.stream import parse_stream, read_lines

    raise typer.Exit(parse_stream(read_lines(file), sys.stdout))


@hj212_app.command("serve")
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="address to listen on [default: settings hj212_host, 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="TCP port, 0 = any free one [default: settings hj212_port, 9212]"
        ),
    ] = None,
    batch_wait: Annotated[
        float, typer.Option(min=0.0, help="seconds a landing batch may wait to fill")
    ] = 0.5,
    batch_readings: Annotated[
        int, typer.Option(min=1, help="readings that make a batch full")
    ] = 20000,
    idle_timeout: Annotated[
        float, typer.Option(min=1.0, help="close a connection silent this many seconds")
    ] = 600.0,
    max_packet: Annotated[
        int, typer.Option(min=64, help="largest packet accepted, in bytes")
    ] = 16384,
    backfill: Annotated[
        bool, typer.Option(help="ask loggers for the history missing after a gap")
    ] = True,
    sync_clocks: Annotated[
        bool, typer.Option(help="read each logger's clock on connect and set it when it drifts")
    ] = False,
) -> None:
    """Receive HJ 212 loggers over TCP into the landing zone until SIGTERM/SIGINT (then flush and answer)."""
    import logging

    from core.settings import get_settings
    from ingest.hj212.server import ServerConfig
    from ingest.hj212.service import run_server

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = get_settings()
    config = ServerConfig.from_settings(
        settings, batch_wait_s=batch_wait, batch_readings=batch_readings,
        idle_timeout_s=idle_timeout, max_packet_bytes=max_packet, backfill=backfill, sync_clocks=sync_clocks,
        **({"host": host} if host is not None else {}), **({"port": port} if port is not None else {}),
    )  # fmt: skip
    stats = run_server(settings, config)
    typer.echo(
        f"{stats.records} records: {stats.packets_landed} landed ({stats.readings} readings), "
        f"{stats.packets_events} events, {stats.packets_dead} dead-lettered; {stats.replies} answers sent; "
        f"{stats.auth_failures} logins refused ({stats.auth_checked} passwords checked), "
        f"{stats.lockouts} lockouts; {stats.connections} connections, {stats.connections_refused} closed on "
        f"accept, {stats.peers_throttled} hosts throttled; {stats.contract_refused} refused by the reading "
        f"contract; {stats.batches} landing batches"
    )


@hj212_app.command("replay")
def replay(
    files: Annotated[
        list[Path], typer.Argument(help="recorded traffic, CRLF-separated records (gzip ok)")
    ],
    host: Annotated[str, typer.Option(help="server host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="server port")] = 9212,
) -> None:
    """Send recorded logger traffic to a server, one connection per logger MN."""
    import asyncio

    from sim.hj212_replay import read_records
    from sim.hj212_replay import replay as run_replay

    records = read_records(files)
    report = asyncio.run(run_replay(records, host, port))
    typer.echo(
        f"sent {report.records} records ({report.bytes} bytes) over {report.connections} connections"
    )
    for lost in report.lost:
        typer.echo(f"not delivered: {lost}", err=True)
    if report.lost:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    from envmon.cli.hj212_onboarding import add_commands  # ingest, detect, unknown (issue 17)

    add_commands(hj212_app)
    app.add_typer(hj212_app, name="hj212")
