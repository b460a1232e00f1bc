"""Staff calculators: exact plain CSV formats, reasons, input encodings, the time zone of a
time without offset, and error messages."""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import EnvmonError
from transforms.standards.calculators import (
    AQI_DAILY_OUTPUT,
    aqi_daily_csv,
    aqi_hourly_csv,
    decode,
    noise_csv,
    water_class_csv,
    water_parameters,
)
from transforms.standards.water import input_columns

HEADER = "site,period_start,so2_ugm3,no2_ugm3,pm10_ugm3,pm25_ugm3,co_mgm3,o3_ugm3\n"
DAILY_HEADER = (
    "site,date,edition,aqi,level,category,primary_pollutants,iaqi_so2,iaqi_no2,iaqi_pm10,iaqi_pm25,iaqi_co,"
    "iaqi_o3_1h,iaqi_o3_8h,so2_24h_ugm3,no2_24h_ugm3,pm10_24h_ugm3,pm25_24h_ugm3,co_24h_mgm3,o3_1h_max_ugm3,"
    "o3_8h_max_ugm3,valid,reason"
)


def _air_file(
    tmp_path: Path, day: str, values: str, offset: str = "", name: str = "in.csv"
) -> Path:
    lines = [f"A,{day}T{h:02d}:00:00{offset},{values}\n" for h in range(24)]
    p = tmp_path / name
    p.write_text(HEADER + "".join(lines), encoding="utf-8")
    return p


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_aqi_daily_format_2012(tmp_path):
    # constant hours = the worked example of aqi.md (O3 1-h max 188 = O3 8-h 172 needs two levels)
    p = tmp_path / "in.csv"
    body = "".join(
        f"A,2016-05-01T{h:02d}:00,12,46,98,80,1.1,{188 if h == 12 else 172}\n" for h in range(24)
    )
    p.write_text(HEADER + body, encoding="utf-8")
    text = aqi_daily_csv(p)
    assert (
        text.splitlines()[0] == DAILY_HEADER and tuple(DAILY_HEADER.split(",")) == AQI_DAILY_OUTPUT
    )
    row = _rows(text)[0]
    assert row["edition"] == "HJ633-2012" and row["date"] == "2016-05-01" and row["valid"] == "true"
    assert (
        row["iaqi_so2"],
        row["iaqi_no2"],
        row["iaqi_pm10"],
        row["iaqi_pm25"],
        row["iaqi_co"],
    ) == ("12", "58", "74", "107", "28")
    assert row["iaqi_o3_1h"] == "85"
    o3_8h = (188 + 7 * 172) / 8  # the best window holds the 188 hour once
    assert float(row["o3_8h_max_ugm3"]) == pytest.approx(o3_8h, abs=1e-3)
    assert row["iaqi_o3_8h"] == str(math.ceil(100 + 50 * (o3_8h - 160) / 55))
    assert row["aqi"] == row["iaqi_o3_8h"] and row["primary_pollutants"] == "O3_8h"
    assert row["reason"] == ""
    assert row["category"] == "轻度污染" and row["level"] == "3"


def test_aqi_daily_2026_by_date_and_override(tmp_path):
    p = _air_file(tmp_path, "2026-03-01", "12,46,98,80,1.1,172", offset="+08:00")
    row = _rows(aqi_daily_csv(p))[0]
    assert (
        row["edition"] == "HJ633-2026"
        and row["iaqi_o3_1h"] == ""
        and row["o3_1h_max_ugm3"] == "172"
    )
    assert row["iaqi_pm25"] == "119"  # PM2.5 80 on the 2026 table
    old = _rows(aqi_daily_csv(p, edition="HJ633-2012"))[0]
    assert old["edition"] == "HJ633-2012" and old["iaqi_pm25"] == "107"
    with pytest.raises(EnvmonError, match="--edition"):
        aqi_daily_csv(p, edition="HJ633-2099")


def test_invalid_indicator_is_empty(tmp_path):
    p = tmp_path / "in.csv"
    body = "".join(
        f"A,2016-05-01T{h:02d}:00,12,46,98,{'' if h < 5 else 80},1.1,100\n" for h in range(24)
    )
    p.write_text(HEADER + body, encoding="utf-8")
    row = _rows(aqi_daily_csv(p))[0]
    assert (
        row["pm25_24h_ugm3"] == ""
        and row["iaqi_pm25"] == ""
        and row["valid"] == "false"
        and row["aqi"] == ""
    )
    assert row["reason"] == "pm25: 19 valid hours < 20 required"  # HJ 663: 20 of 24 hours


def test_offsets_convert_to_local_days(tmp_path):
    # 16:00Z on 04-30 = 00:00 local on 05-01
    p = tmp_path / "in.csv"
    body = "".join(f"A,2016-04-30T{16 + h:02d}:00:00Z,10,10,10,10,0.5,10\n" for h in range(8))
    body += "".join(f"A,2016-05-01T{h:02d}:00:00+00:00,10,10,10,10,0.5,10\n" for h in range(16))
    p.write_text(HEADER + body, encoding="utf-8")
    rows = _rows(aqi_daily_csv(p))
    assert [r["date"] for r in rows] == ["2016-05-01"] and rows[0]["valid"] == "true"


def test_aqi_hourly_format(tmp_path):
    p = _air_file(tmp_path, "2016-05-01", "10,20,30,40,0.5,50")
    rows = _rows(aqi_hourly_csv(p))
    assert len(rows) == 24 and rows[0]["period_start"] == "2016-05-01T00:00:00+08:00"
    # national practice (default): PM2.5 1-h 40 on the 24-h breakpoints, no 24-h window needed
    assert rows[0]["pm25_24h_ugm3"] == "" and rows[0]["realtime_reading"] == "national_practice"
    assert rows[0]["iaqi_pm25"] == str(math.ceil(50 + 50 * 5 / 40)) == rows[0]["aqi"]
    # HJ 633-2012 §5 read literally: the 24-h moving mean, which 1 hour cannot give
    rows = _rows(aqi_hourly_csv(p, reading="literal"))
    assert rows[0]["aqi"] == "" and rows[0]["pm25_24h_ugm3"] == ""  # 1 hour < 20 for the 24-h mean
    last = rows[-1]
    assert last["pm25_24h_ugm3"] == "40" and last["iaqi_pm25"] == str(math.ceil(50 + 50 * 5 / 40))
    assert last["aqi"] == last["iaqi_pm25"] and last["primary_pollutants"] == "PM2.5"
    assert last["realtime_reading"] == "literal"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("A,2016-05-01T00:00,x,1,1,1,1,1", "line 2: column so2_ugm3: 'x' is not a number"),
        ("A,2016-05-01T00:00,-1,1,1,1,1,1", "line 2: column so2_ugm3: -1 is negative"),
        ("A,yesterday,1,1,1,1,1,1", "line 2: column period_start: 'yesterday' is not an ISO 8601"),
        (
            "A,2016-05-01T00:30,1,1,1,1,1,1",
            "line 2: column period_start: .* not the start of an hour",
        ),
        (",2016-05-01T00:00,1,1,1,1,1,1", "line 2: column site: empty value"),
        ("A,2016-05-01T00:00,1,1,1,1,1", "line 2: fewer fields"),
    ],
)
def test_bad_input_names_file_line_column(tmp_path, line, match):
    p = tmp_path / "bad.csv"
    p.write_text(HEADER + line + "\n", encoding="utf-8")
    with pytest.raises(EnvmonError, match=match) as err:
        aqi_daily_csv(p)
    assert str(p) in str(err.value)


def test_duplicate_hour_and_missing_column(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text(
        HEADER + "A,2016-05-01T00:00,1,1,1,1,1,1\nA,2016-05-01T00:00+08:00,1,1,1,1,1,1\n",
        encoding="utf-8",
    )
    with pytest.raises(EnvmonError, match=r"line 3: column period_start: duplicate hour .* line 2"):
        aqi_daily_csv(p)
    q = tmp_path / "cols.csv"
    q.write_text("site,period_start,so2_ugm3\n", encoding="utf-8")
    with pytest.raises(EnvmonError, match="line 1: missing column"):
        aqi_daily_csv(q)


def test_cli_exit_status_2_and_stdout(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "A,2016-05-01T00:00,x,1,1,1,1,1\n", encoding="utf-8")
    envmon = Path(sys.executable).with_name("envmon")
    proc = subprocess.run(
        [str(envmon), "calc", "aqi-daily", str(bad)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "line 2: column so2_ugm3" in proc.stderr
    good = _air_file(tmp_path, "2016-05-01", "10,20,30,40,0.5,50", name="good.csv")
    out = tmp_path / "out.csv"
    proc = subprocess.run(
        [str(envmon), "calc", "aqi-daily", str(good), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and out.read_text(encoding="utf-8-sig").splitlines()[0].startswith(
        "站点 Site,监测日期 Date of monitoring,"
    )
    proc = subprocess.run(
        [str(envmon), "calc", "aqi-daily", str(good), "-o", str(out), "--plain"], check=True
    )
    assert out.read_text(encoding="utf-8").splitlines()[0] == DAILY_HEADER


def test_water_class_csv(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text(
        "section,date,waterbody,ph,do_mgl,codmn_mgl,nh3n_mgl,tp_mgl\n"
        "黑龙江同江,2007-01-15,river,7.66,6.03,13.3,1.77,\n"
        "额尔古纳河,2007-01-15,river,7.25,.03,4.5,0.63,\n"
        "湖心,2024-01-01,lake,7.0,8,1.5,0.1,0.05\n",
        encoding="utf-8",
    )
    rows = _rows(water_class_csv(p))
    assert list(rows[0]) == ["section", "date", "class", "limiting_parameters", "reason"]
    assert [(r["class"], r["limiting_parameters"]) for r in rows] == [
        ("V", "codmn;nh3n"),
        ("劣V", "do"),
        ("III", "tp"),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("section,date,waterbody,nh3n_mgl\nS,2024-01-01,sea,1\n", encoding="utf-8")
    with pytest.raises(EnvmonError, match="line 2: column waterbody"):
        water_class_csv(bad)
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("section,date,waterbody,gold_mgl\n", encoding="utf-8")
    with pytest.raises(EnvmonError, match="column gold_mgl: not a GB 3838"):
        water_class_csv(unknown)


def test_noise_csv(tmp_path):
    p = tmp_path / "n.csv"
    lines = ["site,zone,period_start,leq_dba"]
    lines += [f"N,4a,2024-05-01T{h:02d}:00,{70 if 6 <= h < 22 else 60}" for h in range(24)]
    lines += [f"N,4a,2024-05-02T{h:02d}:00,50" for h in range(6)]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _rows(noise_csv(p))
    assert list(rows[0]) == [
        "site",
        "date",
        "zone",
        "ld_dba",
        "ln_dba",
        "ld_limit_dba",
        "ln_limit_dba",
        "day_exceeds",
        "night_exceeds",
        "n_day_hours",
        "n_night_hours",
        "reason",
    ]
    day1 = next(r for r in rows if r["date"] == "2024-05-01")
    assert (day1["n_day_hours"], day1["n_night_hours"]) == ("16", "8")
    assert day1["reason"] == ""
    short = tmp_path / "short.csv"  # the night of 05-01 without its last hour (05:00)
    short.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    night7 = next(r for r in _rows(noise_csv(short)) if r["date"] == "2024-05-01")
    assert (night7["ld_dba"], night7["ln_dba"], night7["n_night_hours"]) == ("70", "", "7")
    assert night7["reason"] == "Ln: 7 of 8 night-time hours valid, 8 required"
    expect_ln = round(10 * math.log10((2 * 10**6 + 6 * 10**5) / 8), 1)
    assert (day1["ld_dba"], day1["ld_limit_dba"], day1["ln_limit_dba"]) == ("70", "70", "55")
    assert (
        float(day1["ln_dba"]) == expect_ln
        and day1["day_exceeds"] == "false"
        and day1["night_exceeds"] == "true"
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("site,zone,period_start,leq_dba\nN,5,2024-05-01T00:00,50\n", encoding="utf-8")
    with pytest.raises(EnvmonError, match="line 2: column zone"):
        noise_csv(bad)


def test_decode_utf8_bom_gbk_gb18030_and_neither(tmp_path):
    p = tmp_path / "x.csv"
    text = "site,断面\n东四,𠮷\n"
    assert decode(p, text.encode("utf-8")) == text
    assert decode(p, b"\xef\xbb\xbf" + text.encode("utf-8")) == text  # the BOM is dropped
    assert decode(p, text.encode("gb18030")) == text  # 𠮷 needs GB18030's four-byte form
    gbk = text.replace("𠮷", "黄河")
    assert decode(p, gbk.encode("gbk")) == gbk
    with pytest.raises(EnvmonError) as err:
        decode(p, b"site\n" + "é".encode("latin-1") + b",x\n")  # 0xE9 then ',' : neither
    assert str(err.value) == (
        f"{p}: not UTF-8 (invalid continuation byte at byte offset 5) and not GB18030/GBK "
        "(illegal multibyte sequence at byte offset 5); save it as CSV UTF-8 or as CSV in the "
        "Chinese (GBK/GB18030) encoding"
    )


def test_gbk_file_with_chinese_headers_is_read(tmp_path):
    # a GBK file whose Chinese site names reach the output, and one with a Chinese header that is
    # then named in the error (as it was read, not as mojibake)
    p = tmp_path / "gbk.csv"
    body = "".join(f"东四,2016-05-01T{h:02d}:00,10,20,30,40,0.5,50\n" for h in range(24))
    p.write_bytes((HEADER + body).encode("gbk"))
    assert _rows(aqi_daily_csv(p))[0]["site"] == "东四"
    q = tmp_path / "gbk_header.csv"
    q.write_bytes("断面,date,waterbody,do_mgl\n湖心,2024-05-06,lake,8\n".encode("gbk"))
    with pytest.raises(EnvmonError, match=r"missing column.*header: 断面,date,waterbody,do_mgl"):
        water_class_csv(q)


def test_time_without_offset_is_local_in_the_zone_given(tmp_path):
    # the same naive hours are 8 hours apart read in Asia/Shanghai (the default) and in UTC
    p = _air_file(tmp_path, "2016-05-01", "10,20,30,40,0.5,50")
    assert _rows(aqi_hourly_csv(p))[0]["period_start"] == "2016-05-01T00:00:00+08:00"
    assert _rows(aqi_hourly_csv(p, tz="UTC"))[0]["period_start"] == "2016-05-01T00:00:00+00:00"
    z = _air_file(tmp_path, "2016-05-01", "10,20,30,40,0.5,50", offset="+08:00", name="z.csv")
    assert _rows(aqi_hourly_csv(z, tz="UTC"))[0]["period_start"] == "2016-04-30T16:00:00+00:00"
    # the local day follows the zone too: 24 hours of 1 May +08:00 span two UTC days
    assert [r["date"] for r in _rows(aqi_daily_csv(z, tz="UTC"))] == ["2016-04-30", "2016-05-01"]


def test_water_parameters_are_the_table_columns():
    listed = water_parameters()
    assert [c for c, *_ in listed] == list(input_columns())
    assert ("tn_mgl", "总氮", "mg/L", "lakes only, reference item, not in the class") in listed
    assert ("tp_mgl", "总磷", "mg/L", "river and lake limits") in listed
    assert ("ph", "pH", "dimensionless", "") in listed
