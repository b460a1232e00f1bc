"""ingest.files.detect: the profile of a file from its name and header, or a refusal giving
each profile's reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from core.registry.config import load_registry
from ingest.files.detect import detect_profile
from ingest.files.profiles import Profile, load_profiles
from ingest.files.readers import FileLimits, FileRejected, SourceFile

CONFIG = Path(__file__).resolve().parents[3] / "config"
LIMITS = FileLimits(1 << 30, 1 << 30, 100.0, 1_000_000, 1 << 20)
PRSA_HEADER = '"No","year","month","day","hour","PM2.5","PM10","SO2","NO2","CO","O3","TEMP","station"\n'
LONG_HEADER = "site_id,parameter,period_start,value,unit,flag\n"


@pytest.fixture(scope="module")
def profiles() -> dict[str, Profile]:
    return load_profiles(CONFIG, load_registry(CONFIG))


def source(path: Path, text: str | bytes) -> SourceFile:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return SourceFile(path, LIMITS)


def test_the_demo_profiles(profiles: dict[str, Profile]) -> None:
    assert sorted(profiles) == ["beijing_prsa", "generic_long_csv", "generic_long_jsonl", "noise_survey_csv",
                                "water_lab_xlsx"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("PRSA_Data_Dongsi_20130301-20170228.csv", PRSA_HEADER, "beijing_prsa"),
        ("prsa_data_dongsi.csv", PRSA_HEADER, "beijing_prsa"),  # names match ignoring case
        ("PRSA_Data_Dongsi.csv.gz", PRSA_HEADER, "beijing_prsa"),  # .gz is not part of the name
        ("export.csv", LONG_HEADER, "generic_long_csv"),
        ("export.txt", LONG_HEADER, "generic_long_csv"),
        ("noise.csv", "测点名称,监测时间,Leq,Lmax,备注\n", "noise_survey_csv"),
        ("export.jsonl", json.dumps({"site_id": "a", "parameter": "pm25", "period_start": "x", "value": 1,
                                     "unit": "ug/m3"}) + "\n", "generic_long_jsonl"),
    ],
)
def test_detected_profile(tmp_path: Path, profiles: dict[str, Profile], name: str, text: str, expected: str) -> None:
    data: bytes = text.encode()
    if name.endswith(".gz"):
        data = gzip.compress(data)
    assert detect_profile(source(tmp_path / name, data), profiles).name == expected


def test_gbk_header_is_detected(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    src = source(tmp_path / "噪声.csv", "测点名称,监测时间,Leq,Lmax\n东四,2024-05-06 08:00,55.1,70\n".encode("gbk"))
    assert detect_profile(src, profiles).name == "noise_survey_csv"


def test_xlsx_lab_sheet_by_name_and_header(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.append(["2024年5月 地表水监测断面水质分析结果"])
    wb.active.append(["断面名称", "采样日期", "采样时间", "pH(无量纲)"])
    wb.save(tmp_path / "lab.xlsx")
    assert detect_profile(SourceFile(tmp_path / "lab.xlsx", LIMITS), profiles).name == "water_lab_xlsx"


def test_unknown_type_is_refused_with_every_profiles_reason(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    with pytest.raises(FileRejected) as err:
        detect_profile(source(tmp_path / "export.xls", LONG_HEADER), profiles)
    text = str(err.value)
    assert text.startswith("cannot determine the format profile (beijing_prsa: reads csv, the file is of unknown "
                           "type; generic_long_csv: reads csv, the file is of unknown type; ")
    assert "water_lab_xlsx: reads xlsx, the file is of unknown type" in text
    assert text.endswith("); give one with --profile")


def test_a_missing_header_column_is_named(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    with pytest.raises(FileRejected) as err:
        detect_profile(source(tmp_path / "export.csv", "site_id,parameter,period_start,value\n"), profiles)
    text = str(err.value)
    assert "beijing_prsa: name does not match PRSA_Data_*.csv" in text
    assert "generic_long_csv: header lacks unit" in text
    assert "noise_survey_csv: header lacks 测点名称, 监测时间, Leq, Lmax" in text
    assert "generic_long_jsonl: reads jsonl, the file is csv" in text


def test_the_right_name_without_the_header_is_not_enough(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    with pytest.raises(FileRejected, match=r"beijing_prsa: header lacks O3"):
        detect_profile(source(tmp_path / "PRSA_Data_Dongsi.csv", PRSA_HEADER.replace(',"O3"', "")), profiles)


def test_an_unreadable_header_is_the_reason(tmp_path: Path, profiles: dict[str, Profile]) -> None:
    mixed = "测点名称,监测时间,Leq,Lmax\n".encode() + "东四,x,1,2\n".encode("gbk")
    with pytest.raises(FileRejected, match=r"noise_survey_csv: mixed encodings: line\(s\) 1 are UTF-8"):
        detect_profile(source(tmp_path / "noise.csv", mixed), profiles)


def custom(name: str, **detect: Any) -> Profile:
    return Profile.model_validate({
        "name": name, "format": "csv", "layout": "long", "detect": detect, "interval_s": 3600,
        "site": {"column": "site_id"}, "time": {"column": "period_start"},
        "long": {"parameter_column": "parameter", "value_column": "value"}})


def test_the_best_score_wins_and_a_tie_is_refused(tmp_path: Path) -> None:
    by_header = custom("by_header", header=["site_id", "parameter"])
    more_header = custom("more_header", header=["site_id", "parameter", "value"])
    by_name = custom("by_name", filename=["station_*.csv"])  # a name counts 10, each column 1
    src = source(tmp_path / "station_1.csv", "site_id,parameter,period_start,value\n")
    assert detect_profile(src, {p.name: p for p in (by_header, more_header)}).name == "more_header"
    assert detect_profile(src, {p.name: p for p in (by_header, more_header, by_name)}).name == "by_name"
    twin = custom("twin", header=["site_id", "value", "parameter"])
    with pytest.raises(FileRejected, match=r"^ambiguous format profile: more_header, twin all fit; give one with "
                                           r"--profile$"):
        detect_profile(src, {p.name: p for p in (by_header, more_header, twin)})
