"""envmon.cli.calc: `envmon calc aqi-daily|aqi-hourly|water-class|noise` as staff run them, CSV
to stdout or to --out, with worked examples from the published tables (HJ 633 Table 1,
GB 3838-2002 Table 1; tests/transforms/standards/fixtures) and errors naming file, line, column."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
import typer
from _cli_run import envmon, invoke, main_exit

from core.errors import EnvmonError
from envmon.cli import calc as calc_cli

AIR_HEADER = "site,period_start,so2_ugm3,no2_ugm3,pm10_ugm3,pm25_ugm3,co_mgm3,o3_ugm3\n"
# every hour of a day: SO2 12, NO2 46, PM10 98, PM2.5 80 µg/m³, CO 1.1 mg/m³, O3 100 µg/m³
WORKED = "12,46,98,80,1.1,100"


def rows(text: str) -> list[dict[str, str]]:
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
    (old,) = rows(out.read_text(encoding="utf-8"))
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


def test_a_missing_or_non_utf8_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = main_exit(monkeypatch, capsys, "calc", "water-class", str(tmp_path / "none.csv"))
    assert (code, err) == (2, f"envmon: error: {tmp_path / 'none.csv'}: file not found\n")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("section,date,waterbody,do_mgl\n湖心,2024-05-06,lake,8\n".encode("gbk"))
    res = invoke("calc", "water-class", str(gbk))  # the runner sees the error main() turns into exit 2
    assert isinstance(res.exception, EnvmonError)
    assert str(res.exception).startswith(f"{gbk}: not UTF-8 text (invalid start byte at byte ")
