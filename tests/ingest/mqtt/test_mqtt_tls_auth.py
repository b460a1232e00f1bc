"""The ingestor over TLS with a user name and password, against a Mosquitto that demands both."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from _mqtt_helpers import LandingReader, load_and_count, sim_messages

from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.mqtt.broker import Broker, TlsFiles
from ingest.mqtt.ingestor import IngestorConfig, MqttIngestor
from sim.publisher import Publisher

pytestmark = pytest.mark.network


def make_certificates(directory: Path) -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1, made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    d = str(directory)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=envmon test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return TlsFiles(f"{d}/ca.crt", f"{d}/server.crt", f"{d}/server.key")


def test_tls_and_password(
    tmp_path: Path, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    tls = make_certificates(tmp_path)
    users = {"ingestor": "s3cret-ingest", "station": "s3cret-station"}
    with Broker(tmp_path / "broker", users=users, tls=tls) as broker:
        messages = sim_messages(registry, days=1, seed=13)
        expected = sum(m.readings for m in messages)

        # A wrong password is refused: the ingestor never subscribes.
        refused = MqttIngestor(
            IngestorConfig(
                host=broker.host,
                port=broker.port,
                client_id="tls-bad",
                username="ingestor",
                password="wrong",
                tls_ca=tls.cafile,
            ),
            registry,
            LandingZone(settings.landing_root),
        )
        refused.start()
        assert not refused.connected.wait(3)
        refused.stop()

        config = IngestorConfig(
            host=broker.host,
            port=broker.port,
            client_id="tls",
            username="ingestor",
            password=users["ingestor"],
            tls_ca=tls.cafile,
            batch_messages=200,
            batch_wait_s=0.05,
        )
        ingestor = MqttIngestor(config, registry, LandingZone(settings.landing_root))
        ingestor.start()
        assert ingestor.connected.wait(15)
        pub = Publisher(
            broker.host,
            broker.port,
            username="station",
            password=users["station"],
            tls_ca=tls.cafile,
        )
        pub.wait_connected()
        pub.publish_all((m.topic, m.payload) for m in messages)
        pub.close()
        landing.wait_for(lambda r: len(r.keys) >= expected)
        ingestor.stop()

    assert ingestor.stats.messages == ingestor.stats.acked == len(messages)
    assert refused.stats.connects == 0
    counts = load_and_count(settings)
    assert counts.readings == counts.distinct_keys == expected
