"""Bad input: each bad row reported with file, line and reason; good neighbours kept."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from _files_helpers import landing_dead_letters, landing_readings, write
from test_formats import water_lab_sheet

from ingest.files.ingest import ingest_paths

HEADER = "site_id,parameter,period_start,value,unit,flag\n"


def _reasons(report) -> dict[int, str]:
    (f,) = report.files
    return {b.line: b.reason for b in f.bad_rows}


def test_each_kind_of_bad_row_is_reported_and_good_rows_kept(settings, tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.csv", HEADER + "\n".join([
        "dongsi,pm25,2024-05-01 08:00,35,ug/m3,N",       # 2 good
        "atlantis,pm25,2024-05-01 08:00,35,ug/m3,N",     # 3 unknown site
        "dongsi,pm10,2024-05-01 08:00,abc,ug/m3,N",      # 4 unparseable number
        "dongsi,no2,2024-13-45 08:00,20,ug/m3,N",        # 5 unparseable timestamp
        "dongsi,so2,2024-05-01 08:00,5,furlongs,N",      # 6 unknown unit
        "dongsi,radon,2024-05-01 08:00,5,ug/m3,N",       # 7 unknown parameter
        "dongsi,o3,2024-05-01 08:00,100,ug/m3,N",        # 8 conflicts with line 10
        "dongsi,co,2024-05-01 08:00,0.8,mg/m3,N",        # 9 good, repeated identically on 11
        "dongsi,o3,2024-05-01 08:00,120,ug/m3,N",        # 10 conflicts with line 8
        "dongsi,co,2024-05-01 08:00,0.8,mg/m3,N",        # 11 identical repeat: collapsed
        "dongsi,no2,2024-05-01 09:00,30,ug/m3,N,extra",  # 12 too many fields
        "dongsi,no2,2024-05-01 10:00,31,ug/m3,N",        # 13 good
    ]) + "\n")
    report = ingest_paths([path])
    (f,) = report.files
    assert f.status == "ingested"
    assert {b.file for b in f.bad_rows} == {str(path)}
    reasons = _reasons(report)
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 10, 12]
    assert reasons[3] == "unknown site 'atlantis'"
    assert reasons[4] == "unparseable number 'abc' in column value"
    assert reasons[5] == "unparseable timestamp '2024-13-45 08:00'"
    assert reasons[6] == "unknown unit 'furlongs'"
    assert reasons[7] == "unknown parameter 'radon'"
    assert reasons[8] == reasons[10] == "same site, parameter and time as line(s) 8, 10 with a different value"
    assert reasons[12] == "expected 6 fields, found 7"
    assert (f.readings, f.duplicates_collapsed) == (3, 1)
    df = landing_readings(settings)
    assert sorted(df["origin"].to_list()) == sorted(f"{path}:{n}" for n in (2, 9, 13))

    dead = {d["origin"]: d for d in landing_dead_letters(settings)}
    assert set(dead) == {f"{path}:{n}" for n in reasons}
    assert dead[f"{path}:3"]["reason"] == "unknown site 'atlantis'"
    assert dead[f"{path}:3"]["raw"] == b"atlantis,pm25,2024-05-01 08:00,35,ug/m3,N"
    assert all(d["source_kind"] == "file" for d in dead.values())

    bad_rows_file = Path(f.quarantined)
    assert bad_rows_file.parent.parent == settings.quarantine_dir / "files"
    assert "atlantis" in bad_rows_file.read_text(encoding="utf-8-sig")
    assert "8 bad row(s)" in Path(str(bad_rows_file) + ".reason.txt").read_text(encoding="utf-8")


def test_wide_row_bad_cell_keeps_the_other_cells(settings, tmp_path: Path) -> None:
    text = ("测点名称,监测时间,Leq,Lmax\n"
            "东四居住区,2024-05-06 22:00,48.3,六十\n"
            "不存在的点,2024-05-06 22:00,48.3,60\n")
    path = write(tmp_path / "noise.csv", text, "gb18030")
    report = ingest_paths([path])
    assert _reasons(report) == {2: "unparseable number '六十' in column Lmax", 3: "unknown site '不存在的点'"}
    df = landing_readings(settings)
    assert df[["site_id", "parameter", "value"]].rows() == [("nz_dongsi_res", "leq", 48.3)]


def test_missing_column_rejects_the_file(settings, tmp_path: Path) -> None:
    text = ('"No","year","month","day","hour","PM2.5","PM10","SO2","NO2","CO","station"\n'
            '1,2013,3,1,0,4,4,4,7,300,"Dongsi"\n')
    path = write(tmp_path / "PRSA_Data_Dongsi_x.csv", text)
    (f,) = ingest_paths([path], profile="beijing_prsa").files
    assert f.status == "rejected"
    assert "missing column(s) 'O3'" in f.reason
    quarantined = Path(f.quarantined)
    assert quarantined.read_text() == text and path.exists()  # copied: the caller's file is left alone
    assert "missing column(s) 'O3'" in Path(f"{quarantined}.reason.txt").read_text(encoding="utf-8")
    assert landing_readings(settings).height == 0
    (dead,) = landing_dead_letters(settings)
    assert dead["origin"] == str(path) and "missing column" in dead["reason"]


def test_undeterminable_profile_rejects_the_file(settings, tmp_path: Path) -> None:
    path = write(tmp_path / "mystery.csv", "a,b,c\n1,2,3\n")
    (f,) = ingest_paths([path]).files
    assert f.status == "rejected"
    assert f.reason.startswith("cannot determine the format profile")
    assert "generic_long_csv: header lacks site_id, parameter, period_start, value, unit" in f.reason
    assert Path(f"{f.quarantined}.reason.txt").exists()


def test_reject_file_profile_rejects_whole_lab_sheet_on_one_bad_row(settings, tmp_path: Path) -> None:
    from datetime import date

    path = water_lab_sheet(tmp_path / "lab.xlsx", [
        [1, "密云水库库中", date(2024, 5, 8), "09:30", 16.2, 7.9, 9.1, 1.8, 10, 0.2, 0.01, 0.52, "S1", None],
        [2, "清河沈家坟", date(2024, 5, 8), "10:15", 18.0, "7.4?", 6.2, 5.1, 21, 0.86, 0.18, 1.2, "S2", None],
    ])
    (f,) = ingest_paths([path]).files
    assert f.status == "rejected"
    assert [(b.line, b.reason) for b in f.bad_rows] == [(4, "unparseable number '7.4?' in column pH(无量纲)")]
    assert "rejects the whole file" in f.reason and "line 4: unparseable number" in f.reason
    assert landing_readings(settings).height == 0
    (dead,) = landing_dead_letters(settings)
    assert dead["origin"] == f"{path}:4" and "清河沈家坟" in dead["raw"].decode("utf-8")
    assert openpyxl.load_workbook(f.quarantined).active["B3"].value == "密云水库库中"


def test_unknown_profile_name_is_rejected_naming_choices(settings, tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", HEADER)
    (f,) = ingest_paths([path], profile="nope").files
    assert f.status == "rejected" and "valid choices: beijing_prsa" in f.reason
