"""The TCP server honours the registry's logger facts (issue 17): a 600 s, end-labelled logger's
minute records land with interval_s 600 and period_start one interval before the DataTime sent
(HJ 212-2017 6.3.3 reads DataTime as the start; such loggers label the end), on both lanes
(the first packet per packet, the rest in bulk), with the DataTime as sent kept in `extra`."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import yaml
from hj212_server_util import (
    MN,
    SITE,
    RawLogger,
    minute_packet,
    past_minute,
    port_of,
    readings,
    running_server,
)

from core.registry.config import load_registry

pytestmark = pytest.mark.network
CONFIG = Path(__file__).resolve().parents[3] / "config"


def test_end_labelled_ten_minute_logger_over_tcp(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config"
    shutil.copytree(CONFIG / "registry", config / "registry")
    path = config / "registry" / "enterprises.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    logger = next(
        o["logger"] for e in data["enterprises"] for o in e["outlets"] if o["logger"]["mn"] == MN
    )
    logger.update(minute_interval_s=600, hour_label="end")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    registry = load_registry(config)
    start = past_minute(200).replace(minute=0)
    sent = [start + timedelta(minutes=10 * (i + 1)) for i in range(12)]
    packets = [minute_packet(at, f"2020010100000{i:04d}") for i, at in enumerate(sent)]

    async def scenario():  # type: ignore[no-untyped-def]
        async with running_server(settings, registry, batch_wait_s=0.05) as server:
            client = await RawLogger.connect(port_of(server))
            await client.send(packets[0])
            await client.answer()  # the login packet: per-packet lane
            await client.send(b"".join(packets[1:]))
            for _ in packets[1:]:
                await client.answer()
            await client.close()
            return server.stats

    stats = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert stats.packets_bulk >= 1  # the later packets took the bulk lane to the end
    rows = [r for r in readings(settings) if r["site_id"] == SITE and r["parameter"] == "so2"]
    assert len(rows) == 12 and {r["interval_s"] for r in rows} == {600}
    got = sorted((r["period_start"], json.loads(r["extra"])["DataTime"]) for r in rows)
    want = [
        ((at - timedelta(seconds=600)).astimezone(UTC), at.strftime("%Y%m%d%H%M%S")) for at in sent
    ]
    assert got == want
