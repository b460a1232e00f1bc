"""Run the HJ 212 server as a daemon: signals, registry reload, periodic progress lines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from core.landing import LandingZone
from core.registry.config import load_registry
from core.settings import Settings
from ingest.hj212.server import Hj212Server, ServerConfig, ServerStats

log = logging.getLogger("envmon.hj212")


def run_server(
    settings: Settings, config: ServerConfig, *, stats_every_s: float = 30.0
) -> ServerStats:
    """Serve until SIGTERM or SIGINT (then flush, answer and close); SIGHUP reloads the registry."""
    registry = load_registry(settings.config_dir)  # ingestors never open the warehouse
    server = Hj212Server(
        config, registry, LandingZone(settings.landing_root), settings.home, settings.tz
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)

        def reload() -> None:
            try:
                server.set_registry(load_registry(settings.config_dir))
                log.info("registry reloaded from %s", settings.config_dir)
            except Exception as exc:
                log.error("registry reload failed, keeping the previous one: %s", exc)

        loop.add_signal_handler(signal.SIGHUP, reload)
        host, port = await server.start()
        print(f"envmon hj212: listening on {host}:{port}", flush=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), stats_every_s)
            s = server.stats
            log.info(
                "%d connections, %d records: %d landed (%d readings), %d events, %d dead-lettered",
                len(server.connections.live_conns),
                s.records,
                s.packets_landed,
                s.readings,
                s.packets_events,
                s.packets_dead,
            )
        log.info("shutting down: flushing and answering")
        await server.stop()

    asyncio.run(main())
    return server.stats
