"""Helpers of the HJ 212 server tests: a server on a loopback port, a raw logger client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from core.landing import DEAD_LETTERS, READINGS, LandingZone
from core.registry.config import Registry
from core.settings import Settings
from ingest.hj212.packet import Packet
from ingest.hj212.protocol import DEFAULT_TZ, StreamFramer, format_time, frame, try_parse
from ingest.hj212.server import Hj212Server, ServerConfig

# The first demo outlet (config/registry/enterprises.yaml): a coal-fired stack.
MN = "G11010001883490606930"
PW = "956850"
SITE = "huaneng_gaobeidian_da001"


@contextlib.asynccontextmanager
async def running_server(
    settings: Settings, registry: Registry, **config
) -> AsyncIterator[Hj212Server]:
    cfg = ServerConfig(host="127.0.0.1", port=0, **config)
    server = Hj212Server(cfg, registry, LandingZone(settings.landing_root), settings.home)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class FakeWriter:
    """The asyncio.StreamWriter side of a connection from `peer`."""

    def __init__(self, peer: tuple[str, int] = ("10.0.0.1", 5000)):
        self.peer = peer
        self.written: list[bytes] = []
        self.closing = False

    def get_extra_info(self, name: str) -> object:
        return self.peer if name == "peername" else None

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing


def port_of(server: Hj212Server) -> int:
    assert server._server is not None
    return server._server.sockets[0].getsockname()[1]


def minute_packet(
    at: datetime,
    qn: str,
    *,
    mn: str = MN,
    pw: str = PW,
    flag: int = 5,
    so2: float = 20.5,
    extra: str = "",
) -> bytes:
    """A 2051 minute packet of the demo stack: SO2 and O2 (2017 codes)."""
    cp = f"DataTime={format_time(at)};a21026-Avg={so2},a21026-Flag=N;a19001-Avg=8.1,a19001-Flag=N{extra}"
    return frame(f"QN={qn};ST=31;CN=2051;PW={pw};MN={mn};Flag={flag};CP=&&{cp}&&".encode())


def past_minute(minutes_ago: int = 30) -> datetime:
    return (
        (datetime.now(UTC) - timedelta(minutes=minutes_ago))
        .astimezone(DEFAULT_TZ)
        .replace(second=0, microsecond=0)
    )


class RawLogger:
    """A bare TCP client: write bytes, collect the server's answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.framer = StreamFramer()
        self.answers: list[Packet] = []

    @classmethod
    async def connect(cls, port: int) -> RawLogger:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, timeout: float = 10.0) -> Packet:
        """The next packet from the server."""
        while not self.answers:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("server closed the connection")
            for record in self.framer.feed(data):
                res = try_parse(record, max_future=None)
                assert res.ok, res.error
                self.answers.append(res.packet)
        return self.answers.pop(0)

    async def closed_by_server(self, timeout: float = 10.0) -> bool:
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
                self.framer.feed(data)
        except (TimeoutError, ConnectionError):
            return False

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def landing_table(settings: Settings, kind: str = READINGS) -> pa.Table | None:
    landing = LandingZone(settings.landing_root)
    paths = landing.list_batches(kind)
    if not paths:
        return None
    return pa.concat_tables([pq.read_table(landing.full_path(p)) for p in paths])


def dead_letters(settings: Settings) -> list[dict]:
    table = landing_table(settings, DEAD_LETTERS)
    return [] if table is None else table.to_pylist()


def readings(settings: Settings) -> list[dict]:
    table = landing_table(settings, READINGS)
    return [] if table is None else table.to_pylist()


def events(settings: Settings) -> list[dict]:
    import json

    out = []
    for path in sorted(Path(settings.home, "hj212", "events").glob("*.jsonl")):
        out.extend(json.loads(x) for x in path.read_text(encoding="utf-8").splitlines())
    return out
