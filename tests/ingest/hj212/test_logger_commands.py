"""ingest.hj212.commands.LoggerCommands: what the server asks of its loggers — a gap in what is
durable becomes one history request, journalled; an operator's command needs a live logger.
(The command channel itself: test_minute_interval_commands.py, test_hj212_server_sim.py.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from hj212_server_util import MN, PW, SITE, past_minute

from core.landing import LandingZone
from core.registry.config import Registry, load_registry
from ingest.hj212 import builders
from ingest.hj212.connections import Connection
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import parse_packet
from ingest.hj212.server import Hj212Server, ServerConfig

CONFIG = Path(__file__).resolve().parents[3] / "config"


class AnsweringWriter:
    """A logger at the other end: answers every request 9011 QnRtn=1, then 9012 'no data'."""

    def __init__(self) -> None:
        self.requests: list[Packet] = []
        self.conn: Connection | None = None

    def get_extra_info(self, name: str) -> object:
        return ("10.0.0.1", 5000) if name == "peername" else None

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        request = parse_packet(data, max_future=None)
        self.requests.append(request)
        assert self.conn is not None
        channel = self.conn.channel
        loop = asyncio.get_running_loop()
        for answer in (
            builders.request_answer(request, builders.QN_READY),
            builders.execution_result(request, builders.EXE_NO_DATA),
        ):
            loop.call_soon(channel.on_packet, parse_packet(answer, max_future=None))


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(CONFIG)


def test_a_gap_in_durable_data_is_asked_for_once_and_journalled(
    tmp_path: Path, registry: Registry
) -> None:
    server = Hj212Server(
        ServerConfig(command_timeout_s=5), registry, LandingZone(tmp_path / "landing"), tmp_path
    )
    commands = server.commands
    writer = AnsweringWriter()
    conn = writer.conn = Connection(server.config, writer)  # type: ignore[arg-type]
    server.connections.bind(conn, Packet(cn="2051", mn=MN, pw=PW, st="31"))
    facts = registry.logger_facts(MN)
    step = timedelta(seconds=facts.minute_interval_s if facts else 60)
    first = past_minute(60)

    async def scenario() -> None:
        commands.durable([(conn, MN, "2051", first)])  # nothing known before: no gap
        commands.durable([(conn, MN, "2051", first + step)])  # in order: no gap
        await asyncio.gather(*list(commands.tasks))  # saving what was received
        assert writer.requests == []
        commands.durable([(conn, MN, "2051", first + 4 * step)])  # two periods missing
        while commands.tasks:
            await asyncio.gather(*list(commands.tasks))

    asyncio.run(scenario())
    assert [r.cn for r in writer.requests] == ["2051"]
    journal = commands.journal.read()
    assert [e["event"] for e in journal] == ["requested", "no_data"]
    assert journal[0]["mn"] == MN and journal[0]["site_id"] == SITE and journal[0]["slots"] == 2
    assert commands.received.latest(MN, "2051") == first + 4 * step
    assert commands.open == {}


def test_commands_need_a_connected_logger(tmp_path: Path, registry: Registry) -> None:
    server = Hj212Server(ServerConfig(), registry, LandingZone(tmp_path / "landing"), tmp_path)
    with pytest.raises(LookupError, match="not connected"):
        asyncio.run(server.read_clock(MN))
