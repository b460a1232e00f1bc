"""Simulator -> broker -> ingestor -> landing -> warehouse, with exact counts."""

from __future__ import annotations

import json

import pytest
from _mqtt_helpers import (
    LandingReader,
    ingestor_config,
    load_and_count,
    sim_messages,
    station_publisher,
)

from core.landing import LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.mqtt.broker import Broker
from ingest.mqtt.ingestor import MqttIngestor
from warehouse.db import connect

pytestmark = pytest.mark.network


def test_simulator_to_warehouse_exact_counts(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    messages = sim_messages(registry, days=3)
    expected = sum(m.readings for m in messages)
    assert {m.topic.split("/")[2] for m in messages} == {"air", "water", "noise"}

    ingestor = MqttIngestor(
        ingestor_config(broker, client_id="rt", batch_messages=500, batch_wait_s=0.1),
        registry,
        LandingZone(settings.landing_root),
    )
    ingestor.start()
    assert ingestor.connected.wait(15)
    pub = station_publisher(broker)
    pub.wait_connected()
    pub.publish_all((m.topic, m.payload) for m in messages)
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= expected)
    ingestor.stop()

    assert ingestor.stats.messages == len(messages)
    assert ingestor.stats.acked == len(messages)
    assert landing.dead == []
    counts = load_and_count(settings)
    assert counts.readings == expected
    assert counts.distinct_keys == expected
    assert counts.conflicts == 0
    assert counts.dead_letters == []
    with connect(settings, write=False) as con:
        by_kind = dict(
            con.execute(
                "SELECT s.kind, count(*) FROM readings r JOIN sites s USING (site_id) GROUP BY 1"
            ).fetchall()
        )
        flags = dict(con.execute("SELECT flag, count(*) FROM readings GROUP BY 1").fetchall())
    assert set(by_kind) == {"air", "water", "noise"}
    assert set(flags) == {"N", "D"}  # faults come through flagged, not dropped


def test_units_converted_with_original_kept(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    ingestor = MqttIngestor(
        ingestor_config(broker, client_id="units", batch_wait_s=0.05),
        registry,
        LandingZone(settings.landing_root),
    )
    ingestor.start()
    assert ingestor.connected.wait(15)
    payload = {
        "site": "dongsi",
        "period_start": "2024-05-01T08:00:00+08:00",
        "interval_s": 3600,
        "values": {
            "co": {"value": 800, "unit": "ug/m3", "flag": "N"},
            "pm25": {"value": 0.035, "unit": "mg/m3"},
            "no2": 41,
        },
    }
    pub = station_publisher(broker)
    pub.wait_connected()
    pub.publish_all([("envmon/v1/air/dongsi", json.dumps(payload).encode())])
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= 3)
    ingestor.stop()
    load_and_count(settings)
    with connect(settings, write=False) as con:
        rows = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT parameter, value, unit, flag, extra, period_start FROM readings"
            ).fetchall()
        }
    assert rows["co"][:3] == (0.8, "mg/m3", "N")
    assert json.loads(rows["co"][3]) == {"original_unit": "ug/m3", "original_value": 800}
    assert rows["pm25"][:2] == (35.0, "ug/m3")
    assert rows["no2"][:4] == (41.0, "ug/m3", None, None)
    assert rows["no2"][4].isoformat().startswith("2024-05-01T00:00:00")


def test_shared_subscription_splits_the_load(
    broker: Broker, settings: Settings, registry: Registry, landing: LandingReader
) -> None:
    """Two ingestors in one group: each message goes to one of them; together, every reading once."""
    messages = sim_messages(registry, days=1, seed=11)
    expected = sum(m.readings for m in messages)
    ingestors = [
        MqttIngestor(
            ingestor_config(
                broker,
                client_id=f"shared-{i}",
                group="envmon-ingest",
                batch_messages=100,
                batch_wait_s=0.05,
            ),
            registry,
            LandingZone(settings.landing_root),
        )
        for i in (1, 2)
    ]
    for ing in ingestors:
        ing.start()
        assert ing.connected.wait(15)
    pub = station_publisher(broker)
    pub.wait_connected()
    pub.publish_all((m.topic, m.payload) for m in messages)
    pub.close()
    landing.wait_for(lambda r: len(r.keys) >= expected)
    for ing in ingestors:
        ing.stop()

    taken = [ing.stats.messages for ing in ingestors]
    assert all(n > 0 for n in taken), taken  # both took a share
    assert sum(taken) == len(messages)  # and no message went to both
    assert landing.rows == expected
    counts = load_and_count(settings)
    assert counts.readings == counts.distinct_keys == expected
