"""envmon.cli.hj212_onboarding: `envmon hj212 ingest | unknown | detect` on recorded traffic of
a registered logger, an unregistered one and a packet with a bad CRC; times in local time."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import typer
from _cli_run import KNOWN_MN, NEW_MN, envmon, hj212_traffic, invoke

from envmon.cli import hj212_onboarding


def test_add_commands() -> None:
    app = typer.Typer()
    hj212_onboarding.add_commands(app)
    assert [c.name for c in app.registered_commands] == ["ingest", "detect", "unknown"]


def test_ingest_lands_the_known_and_dead_letters_the_rest(tmp_path: Path) -> None:
    out = envmon("hj212", "ingest", str(hj212_traffic(tmp_path / "t.h212")))
    lines = out.splitlines()
    assert lines[0].startswith("15 records from 1 file(s): 1 landed (1 readings), 0 logger-event packets "
                               "(0 events), 0 kept in the event log, 14 dead-lettered (14 dead letters); 2 batches; ")
    assert lines[0].endswith(" s")
    assert lines[1:] == ["  dead letters unknown_mn: 13", "  dead letters crc: 1"]  # the commonest first


def test_ingest_reads_gzip_and_several_files(tmp_path: Path) -> None:
    plain = hj212_traffic(tmp_path / "a.h212")
    packed = tmp_path / "b.h212.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    out = envmon("hj212", "ingest", str(plain), str(packed))
    assert out.startswith("30 records from 2 file(s): 2 landed (2 readings), ")


def test_ingest_names_a_missing_file_and_lands_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # short names: the usage box does not wrap them
    hj212_traffic(tmp_path / "a.h212")
    res = invoke("hj212", "ingest", "a.h212", "none.h212")
    assert res.exit_code == 2
    assert "Invalid value for FILES: no such file: none.h212" in " ".join(res.output.split())
    assert envmon("hj212", "unknown").splitlines()[1:] == [
        "0 unknown loggers; 0 loggers; minute intervals: none; hour labels: start 0, end 0, undecided 0; "
        "minute-vs-hour pairs 0: agree as start -, as end -"]


def test_unknown_lists_the_unregistered_logger_in_local_time(tmp_path: Path) -> None:
    envmon("hj212", "ingest", str(hj212_traffic(tmp_path / "t.h212")))
    header, row, summary = envmon("hj212", "unknown").splitlines()
    assert header == "mn\tfirst_seen\tlast_seen\tpackets\tcns\tcodes\tminute_interval_s\thour_label"
    assert row.split("\t") == [NEW_MN, "2024-05-01T08:00:00+08:00", "2024-05-01T08:55:00+08:00", "13", "2051,2061",
                               "w01018", "300", "start"]
    assert KNOWN_MN not in row
    assert summary == ("1 unknown loggers; 1 loggers; minute intervals: 300 s: 1; hour labels: start 1, end 0, "
                       "undecided 0; minute-vs-hour pairs 1: agree as start 100 %, as end 0 %")


def test_detect_per_logger_and_summary_only(tmp_path: Path) -> None:
    src = hj212_traffic(tmp_path / "t.h212")
    lines = envmon("hj212", "detect", str(src)).splitlines()
    assert lines[0] == "mn\tminute_interval_s\tsteps\thour_label\tpairs\tagree_start\tagree_end"
    # 11 steps of 300 s; the hourly value 5.5 is the mean of the 12 values from its start on
    assert lines[1:-1] == [f"{NEW_MN}\t300\t11\tstart\t1\t100 %\t0 %"]  # the stack's 1 value tells nothing
    assert lines[-1] == ("1 loggers; minute intervals: 300 s: 1; hour labels: start 1, end 0, undecided 0; "
                         "minute-vs-hour pairs 1: agree as start 100 %, as end 0 %")
    assert envmon("hj212", "detect", "--no-per-logger", str(src)).splitlines() == lines[-1:]
