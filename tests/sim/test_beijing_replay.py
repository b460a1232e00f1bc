"""The Beijing PRSA replay: each station-hour of the CSV files becomes one station message in
time order, in Beijing time, CO marked ug/m3 (the data set's unit), NA values left out, a row
of only NA sends nothing, [start, end) bounds in Beijing time when naive; a file of a station
the registry lacks, or no file at all, is refused."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.errors import EnvmonError
from core.registry.config import Registry, load_registry
from core.settings import Settings
from ingest.mqtt.topics import station_topic
from sim.beijing_replay import beijing_messages

HEADER = "No,year,month,day,hour,PM2.5,PM10,SO2,NO2,CO,O3,TEMP,PRES,DEWP,RAIN,wd,WSPM,station\n"


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return load_registry(settings.config_dir)


def write(path: Path, station: str, rows: list[str]) -> Path:
    text = HEADER + "".join(f"{n},{row},-0.7,1023,-18.8,0,NNW,4.4,{station}\n" for n, row in enumerate(rows, 1))
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_rows_become_messages_in_time_order(tmp_path: Path, registry: Registry) -> None:
    write(tmp_path / "PRSA_Data_Dongsi_x.csv", "Dongsi", [
        "2013,3,1,0,9,9,3,17,300,89",
        "2013,3,1,1,NA,NA,NA,NA,NA,NA",  # nothing measured: no message
        "2013,3,1,2,6,NA,3,19,400,NA",
    ])
    write(tmp_path / "PRSA_Data_Changping_x.csv.gz", "Changping", ["2013,3,1,0,3,6,13,7,300,85"])
    messages = list(beijing_messages(tmp_path, registry))
    payloads = [json.loads(m.payload) for m in messages]
    assert [(p["site"], p["period_start"]) for p in payloads] == [
        ("changping", "2013-03-01T00:00:00+08:00"),
        ("dongsi", "2013-03-01T00:00:00+08:00"),
        ("dongsi", "2013-03-01T02:00:00+08:00"),
    ]
    assert payloads[1] == {"site": "dongsi", "period_start": "2013-03-01T00:00:00+08:00", "interval_s": 3600,
                           "values": {"pm25": 9.0, "pm10": 9.0, "so2": 3.0, "no2": 17.0,
                                      "co": {"value": 300.0, "unit": "ug/m3"}, "o3": 89.0}}
    assert payloads[2]["values"] == {"pm25": 6.0, "so2": 3.0, "no2": 19.0, "co": {"value": 400.0, "unit": "ug/m3"}}
    assert [m.readings for m in messages] == [6, 6, 4]
    assert messages[1].topic == station_topic("air", "dongsi")
    assert messages[2].period_start == datetime(2013, 2, 28, 18, tzinfo=UTC)


def test_start_and_end_are_beijing_time_when_naive(tmp_path: Path, registry: Registry) -> None:
    write(tmp_path / "PRSA_Data_Dongsi_x.csv", "Dongsi", [f"2013,3,1,{h},{h + 1},1,1,1,100,1" for h in range(5)])
    hours = [json.loads(m.payload)["period_start"][11:13]
             for m in beijing_messages(tmp_path, registry, datetime(2013, 3, 1, 1), datetime(2013, 3, 1, 3))]
    assert hours == ["01", "02"]  # [01:00, 03:00) local
    aware = [json.loads(m.payload)["period_start"][11:13]
             for m in beijing_messages(tmp_path, registry, datetime(2013, 2, 28, 17, tzinfo=UTC),
                                       datetime(2013, 2, 28, 20, tzinfo=UTC))]
    assert aware == ["01", "02", "03"]  # 17:00Z = 01:00 +08:00, up to 04:00 +08:00 excluded


def test_an_unknown_station_or_no_file_is_refused(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(EnvmonError, match="no PRSA_Data_"):
        list(beijing_messages(tmp_path, registry))
    write(tmp_path / "PRSA_Data_Atlantis_x.csv", "Atlantis", ["2013,3,1,0,1,1,1,1,100,1"])
    with pytest.raises(EnvmonError, match="'atlantis', which is not in the registry"):
        list(beijing_messages(tmp_path, registry))
