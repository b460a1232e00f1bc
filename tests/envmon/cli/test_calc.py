"""envmon.cli.calc: `envmon calc aqi-daily|aqi-hourly|water-class|noise|emissions` as staff run
them, CSV to stdout or to --out in the published form (UTF-8 BOM, '中文 English' headers from
publish/vocabulary.json) or --plain, with worked examples from the published tables (HJ 633
Table 1, GB 3838-2002 Table 1; tests/transforms/standards/fixtures), GBK/GB18030 input, the
settings' time zone, a reason on every row without a value, and errors naming file, line, column."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
import typer
from _cli_run import envmon, invoke, main_exit

from core.settings import reset_settings_cache
from envmon.cli import calc as calc_cli
from publish.vocabulary import column_of, header
from transforms.standards import calculators
from transforms.standards.water import input_columns

AIR_HEADER = "site,period_start,so2_ugm3,no2_ugm3,pm10_ugm3,pm25_ugm3,co_mgm3,o3_ugm3\n"
# every hour of a day: SO2 12, NO2 46, PM10 98, PM2.5 80 µg/m³, CO 1.1 mg/m³, O3 100 µg/m³
WORKED = "12,46,98,80,1.1,100"


def rows(text: str) -> list[dict[str, str]]:
    """The rows of a published-form output, keyed by column name (the headers mapped back)."""
    assert text.startswith("\ufeff"), "no UTF-8 BOM"
    head, *body = csv.reader(io.StringIO(text[1:]))
    keys = [column_of(h) for h in head]
    return [dict(zip(keys, r, strict=True)) for r in body]


def plain_rows(text: str) -> list[dict[str, str]]:
    assert not text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


def air_day(path: Path, day: str, offset: str = "+08:00", values: str = WORKED) -> Path:
    path.write_text(AIR_HEADER + "".join(f"东四,{day}T{h:02d}:00:00{offset},{values}\n" for h in range(24)),
                    encoding="utf-8")
    return path


def iaqi(c: float, lo: float, hi: float, ilo: int, ihi: int) -> int:
    """HJ 633 formula (5): linear between breakpoints, rounded up."""
    return math.ceil((ihi - ilo) / (hi - lo) * (c - lo) + ilo)


def test_register_adds_the_calc_group() -> None:
    app = typer.Typer()
    calc_cli.register(app)
    assert [g.name for g in app.registered_groups] == ["calc"]
    assert [c.name for c in calc_cli.calc.registered_commands] == [
        "aqi-daily", "aqi-hourly", "water-class", "noise", "emissions"]


def test_aqi_daily_worked_example_on_stdout(tmp_path: Path) -> None:
    out = envmon("calc", "aqi-daily", str(air_day(tmp_path / "in.csv", "2016-05-01")))
    (row,) = rows(out)
    # HJ 633-2012 Table 1 breakpoints (µg/m³; CO mg/m³), 24-h means
    expected = {"iaqi_so2": iaqi(12, 0, 50, 0, 50), "iaqi_no2": iaqi(46, 40, 80, 50, 100),
                "iaqi_pm10": iaqi(98, 50, 150, 50, 100), "iaqi_pm25": iaqi(80, 75, 115, 100, 150),
                "iaqi_co": iaqi(1.1, 0, 2, 0, 50), "iaqi_o3_8h": iaqi(100, 0, 100, 0, 50)}
    assert expected == {"iaqi_so2": 12, "iaqi_no2": 58, "iaqi_pm10": 74, "iaqi_pm25": 107, "iaqi_co": 28,
                        "iaqi_o3_8h": 50}
    assert {k: int(row[k]) for k in expected} == expected
    assert (row["site"], row["date"], row["edition"], row["valid"]) == ("东四", "2016-05-01", "HJ633-2012", "true")
    assert (row["aqi"], row["primary_pollutants"], row["level"], row["category"]) == ("107", "PM2.5", "3", "轻度污染")


def test_aqi_daily_edition_by_date_or_forced_and_to_a_file(tmp_path: Path) -> None:
    src = air_day(tmp_path / "in.csv", "2026-03-01")
    (row,) = rows(envmon("calc", "aqi-daily", str(src)))
    # HJ 633-2026 from 1 March 2026: PM2.5 24-h breakpoint of IAQI 100 is 60, not 75
    assert row["edition"] == "HJ633-2026" and int(row["iaqi_pm25"]) == iaqi(80, 60, 115, 100, 150) == 119
    out = tmp_path / "out.csv"
    assert envmon("calc", "aqi-daily", str(src), "--edition", "HJ633-2012", "-o", str(out)) == ""
    (old,) = rows(out.read_bytes().decode("utf-8"))
    assert old["edition"] == "HJ633-2012" and old["iaqi_pm25"] == "107"


def test_aqi_hourly_writes_local_time(tmp_path: Path) -> None:
    # given in UTC: 16:00Z on 30 April is 00:00 on 1 May in Beijing
    src = tmp_path / "in.csv"
    src.write_text(AIR_HEADER + "".join(f"A,2016-04-30T{16 + h:02d}:00:00Z,{WORKED}\n" for h in range(8)),
                   encoding="utf-8")
    out = rows(envmon("calc", "aqi-hourly", str(src)))
    assert [r["period_start"] for r in out[:2]] == ["2016-05-01T00:00:00+08:00", "2016-05-01T01:00:00+08:00"]
    # the 24-h moving mean needs 20 hours; the real-time AQI (national practice) does not
    assert out[0]["pm25_24h_ugm3"] == "" and out[0]["aqi"] == "107"


def test_aqi_hourly_pre_2026_is_the_national_practice(tmp_path: Path) -> None:
    # a day of the worked values, then an hour of PM2.5 76 ending the series (28 Feb 2026, still
    # HJ 633-2012). CNEMC's practice (HJ 633-2026 wrote it down, aqi.md §7): PM IAQI from the
    # 1-h value on the 24-h breakpoints, O3 from its 1-h value only. HJ 633-2012 §5 read
    # literally would take the 24-h moving mean (≈ 80 → 107) and add an O3 8-h IAQI.
    src = air_day(tmp_path / "in.csv", "2026-02-27")
    with src.open("a", encoding="utf-8") as fh:
        fh.write("东四,2026-02-28T00:00:00+08:00,12,46,98,76,1.1,100\n")
    last = rows(envmon("calc", "aqi-hourly", str(src)))[-1]
    assert (last["period_start"], last["edition"]) == ("2026-02-28T00:00:00+08:00", "HJ633-2012")
    # 1-h: SO2 12 → 4, NO2 46 → 23, PM10 98 → 74, CO 1.1 → 11, O3 100 → 32 (1-h columns)
    expected = {"iaqi_so2": iaqi(12, 0, 150, 0, 50), "iaqi_no2": iaqi(46, 0, 100, 0, 50),
                "iaqi_pm10": iaqi(98, 50, 150, 50, 100), "iaqi_co": iaqi(1.1, 0, 5, 0, 50),
                "iaqi_o3_1h": iaqi(100, 0, 160, 0, 50), "iaqi_pm25": iaqi(76, 75, 115, 100, 150)}
    assert expected == {"iaqi_so2": 4, "iaqi_no2": 23, "iaqi_pm10": 74, "iaqi_co": 11, "iaqi_o3_1h": 32,
                        "iaqi_pm25": 102}
    assert {k: int(last[k]) for k in expected} == expected and last["iaqi_o3_8h"] == ""
    assert (last["aqi"], last["primary_pollutants"], last["category"]) == ("102", "PM2.5", "轻度污染")
    assert last["pm25_24h_ugm3"] == f"{(23 * 80 + 76) / 24:.3f}" == "79.833"  # shown, not used
    # one µg/m³ less is the other side of the boundary: IAQI 100, 良
    src.write_text(src.read_text(encoding="utf-8").replace(",76,1.1,100\n", ",75,1.1,100\n"), encoding="utf-8")
    last = rows(envmon("calc", "aqi-hourly", str(src)))[-1]
    assert (last["aqi"], last["iaqi_pm25"], last["category"]) == ("100", "100", "良")
    assert last["realtime_reading"] == "national_practice"


def test_aqi_hourly_literal_reading_by_option_or_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # HJ 633-2012 §5 read literally: PM2.5 from its 24-h moving mean, O3 with an 8-h IAQI
    src = air_day(tmp_path / "in.csv", "2026-02-27")
    with src.open("a", encoding="utf-8") as fh:
        fh.write("东四,2026-02-28T00:00:00+08:00,12,46,98,76,1.1,100\n")
    last = rows(envmon("calc", "aqi-hourly", str(src), "--reading", "literal"))[-1]
    # 24-h mean (23·80 + 76)/24 = 79.83: 100 + 50·4.83/40 = 106.04 → 107; O3 8-h 100 → 50
    assert (last["iaqi_pm25"], last["iaqi_o3_8h"], last["aqi"]) == ("107", "50", "107")
    assert last["realtime_reading"] == "literal"
    monkeypatch.setenv("ENVMON_AQI_REALTIME_READING", "literal")
    from core.settings import reset_settings_cache

    reset_settings_cache()
    try:
        assert rows(envmon("calc", "aqi-hourly", str(src)))[-1]["aqi"] == "107"  # from the setting
        assert rows(envmon("calc", "aqi-hourly", str(src), "--reading", "national_practice"))[-1]["aqi"] == "102"
    finally:
        monkeypatch.delenv("ENVMON_AQI_REALTIME_READING")
        reset_settings_cache()


def test_aqi_hourly_bad_reading_names_the_choices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = air_day(tmp_path / "in.csv", "2016-05-01")
    code, _, err = main_exit(monkeypatch, capsys, "calc", "aqi-hourly", str(src), "--reading", "letter")
    assert code == 2 and "--reading must be one of national_practice, literal, got 'letter'" in err


def test_water_class_worked_examples_both_sides_of_a_limit(tmp_path: Path) -> None:
    src = tmp_path / "w.csv"
    src.write_text("section,date,waterbody,do_mgl,tp_mgl\n"
                   "湖心,2024-05-06,lake,8,0.05\n"  # lake TP III limit 0.05: at it
                   "湖心,2024-05-07,lake,8,0.051\n"  # just over: IV
                   "河段,2024-05-06,river,8,0.05\n"  # river TP II limit 0.1: the waterbody matters
                   "河段,2024-05-07,river,5,0.01\n"  # DO is a minimum: 5 is III
                   "河段,2024-05-08,river,4.99,0.01\n",  # just under: IV
                   encoding="utf-8")
    out = rows(envmon("calc", "water-class", str(src)))
    assert [(r["section"], r["date"], r["class"], r["limiting_parameters"]) for r in out] == [
        ("湖心", "2024-05-06", "III", "tp"), ("湖心", "2024-05-07", "IV", "tp"),
        ("河段", "2024-05-06", "II", "tp"), ("河段", "2024-05-07", "III", "do"), ("河段", "2024-05-08", "IV", "do")]


def test_noise_day_and_night_against_the_zone(tmp_path: Path) -> None:
    src = tmp_path / "n.csv"
    day = [f"P1,1,2024-05-06T{h:02d}:00:00+08:00,55" for h in range(6, 22)]  # 06-22: at the day limit
    night = [f"P1,1,2024-05-06T{h:02d}:00:00+08:00,46" for h in (22, 23)]
    night += [f"P1,1,2024-05-07T{h:02d}:00:00+08:00,46" for h in range(6)]  # the night runs to 06:00 next day
    src.write_text("site,zone,period_start,leq_dba\n" + "\n".join(day + night) + "\n", encoding="utf-8")
    (row,) = rows(envmon("calc", "noise", str(src)))
    # GB 3096-2008 zone 1: day 55, night 45 dB(A); at the limit is no exceedance, 1 dB over is
    assert (row["site"], row["date"], row["zone"]) == ("P1", "2024-05-06", "1")
    assert (row["ld_limit_dba"], row["ln_limit_dba"]) == ("55", "45")
    assert (row["ld_dba"], row["ln_dba"], row["day_exceeds"], row["night_exceeds"]) == ("55", "46", "false", "true")


def test_bad_input_exits_2_naming_file_line_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(AIR_HEADER + "A,2016-05-01T00:00,12,x,1,1,1,1\n", encoding="utf-8")
    code, out, err = main_exit(monkeypatch, capsys, "calc", "aqi-daily", str(bad))
    assert (code, out) == (2, "")
    assert err == f"envmon: error: {bad}: line 2: column no2_ugm3: 'x' is not a number\n"
    code, _, err = main_exit(monkeypatch, capsys, "calc", "aqi-daily", str(air_day(tmp_path / "ok.csv", "2016-05-01")),
                             "--edition", "HJ633-2099")
    assert code == 2 and err == "envmon: error: --edition must be one of HJ633-2012, HJ633-2026, got 'HJ633-2099'\n"


def test_a_missing_file_or_one_neither_utf8_nor_gb18030_is_named_with_the_byte_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = main_exit(monkeypatch, capsys, "calc", "water-class", str(tmp_path / "none.csv"))
    assert (code, err) == (2, f"envmon: error: {tmp_path / 'none.csv'}: file not found\n")
    # UTF-16 (Excel's "Unicode text"): 0xFF starts no UTF-8 character and no GB18030 one
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes("section,date,waterbody,do_mgl\n湖心,2024-05-06,lake,8\n".encode("utf-16"))
    code, out, err = main_exit(monkeypatch, capsys, "calc", "water-class", str(utf16))
    assert (code, out) == (2, "")
    assert err == (f"envmon: error: {utf16}: not UTF-8 (invalid start byte at byte offset 0) and not "
                   "GB18030/GBK (illegal multibyte sequence at byte offset 0); save it as CSV UTF-8 or "
                   "as CSV in the Chinese (GBK/GB18030) encoding\n")
    # a bad byte after the first line: the offset counts from the start of the file, BOM included
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xef\xbb\xbfsection,date,waterbody,do_mgl\n" + "湖心".encode("gbk") + b",2024-05-06,lake,8\n")
    code, _, err = main_exit(monkeypatch, capsys, "calc", "water-class", str(bad))
    # 3 + 30 bytes, then 湖 in GBK (0xBA 0xFE): 0xBA starts no UTF-8 character
    assert code == 2 and err == (f"envmon: error: {bad}: not UTF-8 (invalid start byte at byte offset "
                                 "33), though it starts with a UTF-8 BOM\n")


# what Chinese Excel saves as "CSV": GBK (GB18030 for characters beyond GBK, e.g. 𠮷 U+20BB7)
@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig"])
def test_gbk_gb18030_and_utf8_input_give_the_same_output(tmp_path: Path, encoding: str) -> None:
    water = tmp_path / "w.csv"
    water.write_bytes(("section,date,waterbody,do_mgl,tp_mgl\n"
                       "黑龙江同江,2024-05-06,lake,8,0.05\n"
                       "额尔古纳河,2024-05-07,river,4.99,0.01\n").encode(encoding))
    out = rows(envmon("calc", "water-class", str(water)))
    assert [(r["section"], r["class"], r["limiting_parameters"]) for r in out] == [
        ("黑龙江同江", "III", "tp"), ("额尔古纳河", "IV", "do")]
    air = tmp_path / "air.csv"
    site = "𠮷东四" if encoding != "gbk" else "东四"  # 𠮷 is not in GBK
    air.write_bytes((AIR_HEADER + "".join(f"{site},2016-05-01T{h:02d}:00,{WORKED}\n" for h in range(24)))
                    .encode(encoding))
    (row,) = rows(envmon("calc", "aqi-daily", str(air)))
    assert (row["site"], row["aqi"], row["category"]) == (site, "107", "轻度污染")


def test_output_as_the_published_files_or_plain(tmp_path: Path) -> None:
    src = air_day(tmp_path / "in.csv", "2016-05-01")
    text = envmon("calc", "aqi-daily", str(src))
    head = next(csv.reader(io.StringIO(text[1:])))
    assert text.startswith("\ufeff") and head == [header(c) for c in calculators.AQI_DAILY_OUTPUT]
    assert head[:4] == ["站点 Site", "监测日期 Date of monitoring", "标准版本 Standard edition", "空气质量指数 AQI"]
    out = tmp_path / "out.csv"
    assert envmon("calc", "aqi-daily", str(src), "-o", str(out)) == ""
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf\xe7\xab\x99\xe7\x82\xb9 Site,")  # BOM, 站点
    assert data.count(b"\r\n") == 2  # CRLF, as publish.formats.csv_bytes writes
    plain = envmon("calc", "aqi-daily", str(src), "--plain")
    assert plain.splitlines()[0] == ",".join(calculators.AQI_DAILY_OUTPUT) and "\r" not in plain
    assert plain_rows(plain) == rows(text)  # the same cells either way


def test_every_output_column_has_one_bilingual_header() -> None:
    for columns in calculators.OUTPUTS:
        for c in columns:  # column_of fails unless the header is in vocabulary.json and unique
            assert column_of(header(c)) == c


def test_formula_cells_are_neutralised_in_both_forms(tmp_path: Path) -> None:
    src = air_day(tmp_path / "in.csv", "2016-05-01")
    src.write_text(src.read_text(encoding="utf-8").replace("东四,", '"=HYPERLINK(""http://x"")",'), encoding="utf-8")
    for form in ((), ("--plain",)):
        text = envmon("calc", "aqi-daily", str(src), *form)
        (row,) = rows(text) if not form else plain_rows(text)
        assert row["site"] == "'=HYPERLINK(\"http://x\")"


def test_a_time_without_offset_is_in_the_settings_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 hours given without an offset: in Asia/Shanghai 00:00-07:00 of 1 May; with ENVMON_TZ=UTC
    # they are 00:00-07:00 UTC, shown as such; an hour with an offset is taken as given
    src = tmp_path / "in.csv"
    src.write_text(AIR_HEADER + "".join(f"A,2016-05-01T{h:02d}:00:00,{WORKED}\n" for h in range(8))
                   + f"A,2016-05-01T16:00:00+08:00,{WORKED}\n", encoding="utf-8")
    out = rows(envmon("calc", "aqi-hourly", str(src)))
    assert [r["period_start"] for r in out][::8] == ["2016-05-01T00:00:00+08:00", "2016-05-01T16:00:00+08:00"]
    monkeypatch.setenv("ENVMON_TZ", "UTC")
    reset_settings_cache()
    try:
        out = rows(envmon("calc", "aqi-hourly", str(src)))
        assert [r["period_start"] for r in out][::8] == ["2016-05-01T00:00:00+00:00", "2016-05-01T08:00:00+00:00"]
        # the local day is cut in UTC too: 16:00Z on 30 April is 30 April
        day = tmp_path / "day.csv"
        day.write_text(AIR_HEADER + "".join(f"A,2016-04-30T{16 + h:02d}:00:00Z,{WORKED}\n" for h in range(8)),
                       encoding="utf-8")
        assert [r["date"] for r in rows(envmon("calc", "aqi-daily", str(day)))] == ["2016-04-30"]
        assert "now UTC" in " ".join(envmon("calc", "aqi-daily", "--help").split())
    finally:
        monkeypatch.delenv("ENVMON_TZ")
        reset_settings_cache()


def _help(command: str) -> str:
    return " ".join(invoke("calc", command, "--help").output.replace("│", " ").split())


def test_help_states_columns_encodings_and_the_time_zone_rule() -> None:
    water = _help("water-class")
    known = list(input_columns())
    assert len(known) >= 20 and all(f"{c} (" in water for c in known)  # from tables/gb3838_limits.csv
    assert "tn_mgl (总氮, mg/L, lakes only, reference item" in water
    for command in ("aqi-daily", "aqi-hourly", "noise"):
        text = _help(command)
        assert "Without an offset it is local time in the settings' zone (setting timezone, ENVMON_TZ" in text
        assert "with an offset (+08:00, Z) it is taken as given" in text
    assert "period_start must carry its offset" in _help("emissions")
    for command in ("aqi-daily", "aqi-hourly"):  # comma-space separated, so rich wraps and never cuts
        assert ", ".join(calculators.AIR_INPUT) in _help(command)
    assert ", ".join(calculators.EMISSIONS_INPUT) in _help("emissions")
    for command in ("aqi-daily", "aqi-hourly", "water-class", "noise", "emissions"):
        text = _help(command)
        assert "GB18030/GBK" in text and "'reason' column" in text and "--plain" in text


def test_every_row_without_a_value_says_why(tmp_path: Path) -> None:
    # PM2.5 missing 00:00-04:00 (19 of 24 hours; HJ 663 needs 20 for a daily mean)
    air = tmp_path / "air.csv"
    air.write_text(AIR_HEADER + "".join(
        f"东四,2016-05-01T{h:02d}:00,12,46,98,{'' if h < 5 else 80},1.1,100\n" for h in range(24)), encoding="utf-8")
    (day,) = rows(envmon("calc", "aqi-daily", str(air)))
    assert (day["valid"], day["aqi"], day["reason"]) == ("false", "", "pm25: 19 valid hours < 20 required")
    hours = rows(envmon("calc", "aqi-hourly", str(air)))
    assert [(h["valid"], h["reason"]) for h in hours[4:6]] == [("false", "pm25: no valid 1-h value"), ("true", "")]
    literal = rows(envmon("calc", "aqi-hourly", str(air), "--reading", "literal"))
    # HJ 633-2012 §5 read literally: the PM2.5 24-h moving mean at 23:00 has 19 valid hours
    assert literal[-1]["reason"] == "pm25: 24-h moving mean from 19 valid hours, too few"
    assert all((r["valid"] == "true") == (r["reason"] == "") for r in hours + literal)
    water = tmp_path / "w.csv"
    water.write_text("section,date,waterbody,do_mgl,tn_mgl\n湖心,2024-05-06,lake,,1\n河段,2024-05-06,river,,1\n"
                     "河段,2024-05-07,river,8,1\n", encoding="utf-8")
    assert [(r["class"], r["reason"]) for r in rows(envmon("calc", "water-class", str(water)))] == [
        ("", "no valid value of a parameter that sets the class; given: tn_mgl (reference item)"),
        ("", "no valid value of a parameter that sets the class; given: tn_mgl (no limit for a river)"),
        ("I", "")]
    noise = tmp_path / "n.csv"  # the night of 6 May without its 05:00 hour
    hours_n = [f"P1,1,2024-05-06T{h:02d}:00:00+08:00,50" for h in range(6, 24)]
    hours_n += [f"P1,1,2024-05-07T{h:02d}:00:00+08:00,40" for h in range(5)]
    noise.write_text("site,zone,period_start,leq_dba\n" + "\n".join(hours_n) + "\n", encoding="utf-8")
    (n,) = rows(envmon("calc", "noise", str(noise)))
    assert (n["ld_dba"], n["ln_dba"], n["reason"]) == ("50", "", "Ln: 7 of 8 night-time hours valid, 8 required")
