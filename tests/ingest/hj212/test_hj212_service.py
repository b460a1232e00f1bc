"""ingest.hj212.service: the HJ 212 server as a daemon — it listens, lands, reloads the registry
on SIGHUP, and on SIGTERM makes everything durable, answers it and exits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hj212_server_util import landing_table, minute_packet, past_minute

from core.settings import Settings

REPO = Path(__file__).resolve().parents[3]
DAEMON = (
    "import logging\n"
    "logging.basicConfig(level=logging.INFO)\n"
    "from core.settings import get_settings\n"
    "from ingest.hj212.server import ServerConfig\n"
    "from ingest.hj212.service import run_server\n"
    "stats = run_server(get_settings(), ServerConfig(host='127.0.0.1', port=0, batch_wait_s=60),"
    " stats_every_s=0.2)\n"
    "print('stats', stats.records, stats.packets_landed, stats.replies, flush=True)\n"
)


@pytest.mark.network
def test_serves_until_sigterm_then_flushes_and_answers(settings: Settings) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", DAEMON], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("envmon hj212: listening on 127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(minute_packet(past_minute(5), "20240101000000001"))
            proc.send_signal(signal.SIGHUP)  # a registry reload keeps it serving
            sock.sendall(minute_packet(past_minute(4), "20240101000000002"))
            # batch_wait_s=60: nothing is written (or answered) until the shutdown flushes
            proc.send_signal(signal.SIGTERM)
            sock.settimeout(30)
            answers = b""
            while answers.count(b"\r\n") < 2:
                data = sock.recv(4096)
                if not data:
                    break
                answers += data
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert answers.count(b"CN=9014") == 2
    assert "stats 2 2 2" in out
    assert "registry reloaded" in err
    table = landing_table(settings)
    assert table is not None and table.num_rows == 4  # SO2 and O2 of both packets
