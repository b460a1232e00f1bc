"""`envmon mqtt run`: the MQTT ingestor daemon; `envmon mqtt broker-config`: the broker's accounts.

The ingestor's modules (paho, pyarrow, msgspec, the HJ 212 library) are imported inside the
command, so that `envmon --help` and every other command do not pay for them.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings
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
    log = logging.getLogger("envmon.mqtt")
    if username is None:
        from ingest.mqtt.accounts import credentials_path, load_accounts

        path = credentials_path(settings.home)
        if path.exists():  # the account `envmon mqtt broker-config` made for the ingestor
            account = load_accounts(path).ingestor
            username, password = account.username, account.password
            log.info("using the ingestor account %s of %s", username, path)
        else:
            log.warning(
                "no user name given and no %s: connecting anonymously (a broker set up by "
                "`envmon mqtt broker-config` refuses that)",
                path,
            )
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


@mqtt_app.command("broker-config")
def broker_config(
    out: Annotated[
        Path | None,
        typer.Option(help="folder for the broker's files (default: $ENVMON_HOME/mqtt)"),
    ] = None,
    tls_ca: Annotated[str | None, typer.Option(help="CA bundle (turns TLS on)")] = None,
    tls_cert: Annotated[str | None, typer.Option(help="the broker's certificate")] = None,
    tls_key: Annotated[str | None, typer.Option(help="the broker's key")] = None,
) -> None:
    """Write Mosquitto's password file, ACL and configuration from the registry: an account per
    station and HJ 212 logger (each may publish only to its own topic) and the ingestor's (reads
    all); no anonymous client. Passwords are kept in $ENVMON_HOME/mqtt/credentials.json (0600)."""
    from core.registry.config import load_registry
    from ingest.mqtt.accounts import credentials_path, ensure_accounts, write_broker_auth
    from ingest.mqtt.broker import TlsFiles, broker_config_text

    settings = get_settings()
    if bool(tls_cert) != bool(tls_key) or (tls_cert and not tls_ca):
        raise typer.BadParameter("TLS needs --tls-ca, --tls-cert and --tls-key together")
    registry = load_registry(settings.config_dir)
    accounts = ensure_accounts(settings.home, registry)
    directory = (out or settings.home / "mqtt").absolute()
    directory.mkdir(parents=True, exist_ok=True)
    auth = write_broker_auth(accounts, directory)
    tls = TlsFiles(tls_ca, tls_cert, tls_key) if tls_ca and tls_cert and tls_key else None
    conf = directory / "mosquitto.conf"
    conf.write_text(
        broker_config_text(
            settings.mqtt_host,
            settings.mqtt_port,
            directory / "persistence",
            directory / "mosquitto.log",
            auth,
            tls,
            max_packet_bytes=4 * settings.mqtt_max_payload_bytes,
        ),
        encoding="utf-8",
    )
    (directory / "persistence").mkdir(exist_ok=True)
    stations = sum(1 for u in accounts.by_user if u.startswith("station-"))
    loggers = sum(1 for u in accounts.by_user if u.startswith("logger-"))
    typer.echo(
        f"{len(accounts)} accounts ({stations} stations, {loggers} HJ 212 loggers, the ingestor); "
        f"anonymous clients refused\n"
        f"  passwords (0600): {credentials_path(settings.home)}\n"
        f"  password file (hashes): {auth.password_file}\n"
        f"  ACL: {auth.acl_file}\n"
        f"  configuration: {conf} (listener {settings.mqtt_host}:{settings.mqtt_port}); "
        f"run: mosquitto -c {conf}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(mqtt_app, name="mqtt")
