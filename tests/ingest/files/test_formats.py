"""Each shipped profile and each encoding/container: UTF-8 (±BOM), GBK, XLSX, JSONL, gzip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from _files_helpers import jsonl, landing_readings, write

from ingest.files.ingest import ingest_paths

LONG_CSV = """site_id,parameter,period_start,value,unit,flag
dongsi,pm25,2024-05-01 08:00,35,ug/m3,N
dongsi,co,2024-05-01 08:00,700,µg/m³,N
dongsi,so2,2024-05-01T09:00:00+08:00,7,ug/m3,
tiantan,no2,2024-05-01T00:00:00Z,40,ug/m3,N
"""


def _value(df, site: str, parameter: str) -> dict:
    rows = df.filter((df["site_id"] == site) & (df["parameter"] == parameter)).to_dicts()
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
@pytest.mark.parametrize("gz", [False, True])
def test_generic_long_csv(settings, tmp_path: Path, encoding: str, gz: bool) -> None:
    path = write(tmp_path / ("long.csv.gz" if gz else "long.csv"), LONG_CSV, encoding, gz)
    report = ingest_paths([path])
    (f,) = report.files
    assert (f.status, f.profile, f.readings, f.bad_rows) == ("ingested", "generic_long_csv", 4, [])
    df = landing_readings(settings)
    pm25 = _value(df, "dongsi", "pm25")
    assert pm25["period_start"] == datetime(2024, 5, 1, 0, tzinfo=UTC)  # 08:00 local = 00:00 UTC
    assert (pm25["value"], pm25["unit"], pm25["flag"], pm25["interval_s"], pm25["source_kind"]) == (35, "ug/m3", "N", 3600, "file")
    assert pm25["origin"] == f"{path}:2"
    co = _value(df, "dongsi", "co")
    assert (co["value"], co["unit"]) == (0.7, "mg/m3")  # µg/m³ -> the registry's mg/m3, exactly
    assert _value(df, "dongsi", "so2")["period_start"] == datetime(2024, 5, 1, 1, tzinfo=UTC)
    assert _value(df, "tiantan", "no2")["period_start"] == datetime(2024, 5, 1, 0, tzinfo=UTC)


def test_gbk_noise_survey_with_chinese_point_names(settings, tmp_path: Path) -> None:
    text = ("测点名称,监测时间,Leq,Lmax\r\n"
            "东四居住区,2024-05-06 22:00,48.3,61.2\r\n"
            "天坛东里居住区,2024-05-06 23:00,45.1,\r\n"
            "nz_yizhuang_ind,2024/05/07 00:00,58.9,72.0\r\n")
    path = write(tmp_path / "噪声监测.csv", text, "gbk")
    (f,) = ingest_paths([path]).files
    assert (f.status, f.profile, f.readings, f.bad_rows) == ("ingested", "noise_survey_csv", 5, [])
    df = landing_readings(settings)
    leq = _value(df, "nz_dongsi_res", "leq")
    assert (leq["value"], leq["unit"], leq["period_start"]) == (48.3, "dB(A)", datetime(2024, 5, 6, 14, tzinfo=UTC))
    assert df.filter(df["site_id"] == "nz_tiantan_res").height == 1  # the empty Lmax is missing, not a reading
    assert _value(df, "nz_yizhuang_ind", "lmax")["value"] == 72.0


def water_lab_sheet(path: Path, rows: list[list]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "水质分析结果"
    ws.append(["2024年5月 地表水监测断面水质分析结果"])
    ws.append(["序号", "断面名称", "采样日期", "采样时间", "水温(℃)", "pH(无量纲)", "溶解氧(mg/L)", "高锰酸盐指数(mg/L)",
               "化学需氧量(mg/L)", "氨氮(mg/L)", "总磷(mg/L)", "总氮(mg/L)", "样品编号", "备注"])
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_water_lab_xlsx(settings, tmp_path: Path) -> None:
    from datetime import date, time

    path = water_lab_sheet(tmp_path / "2024年5月水质.xlsx", [
        [1, "密云水库库中", date(2024, 5, 8), time(9, 30), 16.2, 7.9, 9.1, 1.8, "10L", "0.025L", 0.01, 0.52, "W240508-01", None],
        [2, "清河沈家坟", datetime(2024, 5, 8), "10:15", 18.0, 7.4, 6.2, 5.1, 21, 0.86, 0.18, "/", "W240508-02", "总氮未测"],
    ])
    (f,) = ingest_paths([path]).files
    assert (f.status, f.profile, f.bad_rows) == ("ingested", "water_lab_xlsx", [])
    assert f.readings == 8 + 7
    df = landing_readings(settings)
    assert set(df["source_kind"]) == {"lab"}
    nh3n = _value(df, "ws_miyun_res", "nh3n")
    assert (nh3n["value"], nh3n["flag"], nh3n["unit"]) == (0.025, "BDL", "mg/L")  # "0.025L": below the limit
    assert nh3n["period_start"] == datetime(2024, 5, 8, 1, 30, tzinfo=UTC)
    assert nh3n["interval_s"] == 0
    assert json.loads(nh3n["extra"]) == {"sample_id": "W240508-01", "remark": None}
    assert nh3n["origin"] == f"{path}:3"
    ph = _value(df, "ws_qinghe", "ph")
    assert (ph["value"], ph["unit"], ph["period_start"]) == (7.4, "pH", datetime(2024, 5, 8, 2, 15, tzinfo=UTC))
    assert df.filter((df["site_id"] == "ws_qinghe") & (df["parameter"] == "tn")).height == 0


def test_jsonl(settings, tmp_path: Path) -> None:
    path = jsonl(tmp_path / "export.jsonl", [
        {"site_id": "guanyuan", "parameter": "o3", "period_start": "2024-05-01T12:00:00+08:00", "value": 160.5, "unit": "ug/m3"},
        {"site_id": "guanyuan", "parameter": "co", "period_start": "2024-05-01T12:00:00+08:00", "value": 1.2, "unit": "mg/m3", "flag": "N"},
    ])
    (f,) = ingest_paths([path]).files
    assert (f.status, f.profile, f.readings, f.bad_rows) == ("ingested", "generic_long_jsonl", 2, [])
    df = landing_readings(settings)
    assert _value(df, "guanyuan", "o3")["value"] == 160.5
    assert _value(df, "guanyuan", "co")["period_start"] == datetime(2024, 5, 1, 4, tzinfo=UTC)


def test_beijing_profile_on_a_small_gzipped_file(settings, tmp_path: Path) -> None:
    text = ('"No","year","month","day","hour","PM2.5","PM10","SO2","NO2","CO","O3","TEMP","PRES","DEWP","RAIN","wd","WSPM","station"\n'
            '1,2013,3,1,0,4,4,4,7,300,77,-0.7,1023,-18.8,0,"NNW",4.4,"Dongsi"\n'
            '2,2013,3,1,1,8,NA,4,7,NA,77,-1.1,1023.2,-18.2,0,"N",4.7,"Dongsi"\n')
    path = write(tmp_path / "PRSA_Data_Dongsi_20130301-20170228.csv.gz", text, gz=True)
    (f,) = ingest_paths([path]).files
    assert (f.status, f.profile, f.rows, f.readings) == ("ingested", "beijing_prsa", 2, 10)
    df = landing_readings(settings).sort("period_start")
    co = df.filter(df["parameter"] == "co").to_dicts()
    assert [(r["period_start"], r["value"], r["unit"]) for r in co] == [(datetime(2013, 2, 28, 16, tzinfo=UTC), 0.3, "mg/m3")]
