"""`envmon mqtt run`: the MQTT ingestor daemon.

The ingestor's modules (paho, pyarrow, msgspec, the HJ 212 library) are imported inside the
command, so that `envmon --help` and every other command do not pay for them.
"""

from __future__ import annotations

import logging
import socket
from typing import Annotated

import typer

from envmon.settings import get_settings
from ingest.mqtt.topics import ALL_TOPICS  # light: no third-party imports

mqtt_app = typer.Typer(
    help="MQTT ingestion of station readings (see docs/mqtt.md).", no_args_is_help=True
)


@mqtt_app.command("run")
def run(
    host: Annotated[
        str | None, typer.Option(help="broker host (default: settings mqtt_host)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="broker port (default: settings mqtt_port)")
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            help="MQTT client id; keep it stable across restarts (the session is keyed by it)"
        ),
    ] = None,
    group: Annotated[
        str,
        typer.Option(
            help="shared-subscription group: ingestors of one group split the load (see docs/mqtt.md for the broker-restart caveat); default: a plain subscription"
        ),
    ] = "",
    topic: Annotated[str, typer.Option(help="topic filter")] = ALL_TOPICS,
    username: Annotated[
        str | None, typer.Option(envvar="ENVMON_MQTT_USERNAME", help="user name")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="ENVMON_MQTT_PASSWORD", help="password (prefer the environment variable)"
        ),
    ] = None,
    tls_ca: Annotated[str | None, typer.Option(help="CA bundle; turns TLS on")] = None,
    tls_cert: Annotated[str | None, typer.Option(help="client certificate (mutual TLS)")] = None,
    tls_key: Annotated[str | None, typer.Option(help="client key (mutual TLS)")] = None,
    tls_insecure: Annotated[
        bool, typer.Option(help="do not verify the broker's host name (test brokers only)")
    ] = False,
    batch_messages: Annotated[
        int, typer.Option(min=1, max=30000, help="messages per landing batch")
    ] = 2000,
    batch_wait: Annotated[
        float, typer.Option(min=0.01, help="seconds a message may wait for its batch")
    ] = 0.5,
    session_expiry: Annotated[
        int, typer.Option(min=0, help="seconds the broker keeps the session while we are down")
    ] = 7 * 86400,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING, ERROR")] = "INFO",
) -> None:
    """Ingest station readings from the broker into the landing zone until SIGTERM (SIGHUP reloads the registry)."""
    from ingest.mqtt.ingestor import IngestorConfig
    from ingest.mqtt.service import run_ingestor

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    settings = get_settings()
    config = IngestorConfig(
        host=host or settings.mqtt_host,
        port=port or settings.mqtt_port,
        client_id=client_id or f"envmon-ingest-{socket.gethostname()}",
        group=group or None,
        topic_filter=topic,
        username=username,
        password=password,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_insecure=tls_insecure,
        batch_messages=batch_messages,
        batch_wait_s=batch_wait,
        session_expiry_s=session_expiry,
    )
    run_ingestor(settings, config)


def register(app: typer.Typer) -> None:
    app.add_typer(mqtt_app, name="mqtt")
