"""Issue #18 (items 2, 3, 11, 12): the inbox protocol, file limits, the reading contract, encodings.

Each test reproduces an attack or accident of the issue that succeeded before, and checks the
other side of each limit too.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _files_helpers import landing_dead_letters, landing_readings, write

from core.settings import get_settings, reset_settings_cache
from ingest.files.inbox import scan_inbox
from ingest.files.ingest import ingest_paths
from ingest.files.ledger import LEDGER_DIR

HEADER = "site_id,parameter,period_start,value,unit,flag\n"
T0 = datetime(2024, 5, 1, 0, 0)  # local (Asia/Shanghai) wall time, as the generic profile reads it


def _row(i: int, site: str = "dongsi") -> str:
    return f"{site},pm25,{T0 + timedelta(hours=i):%Y-%m-%d %H:%M},{30 + i % 7},ug/m3,N\n"


def _set(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    for key, value in values.items():
        monkeypatch.setenv(f"ENVMON_{key.upper()}", str(value))
    reset_settings_cache()


def _ledger_entries(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    return list((Path(settings.landing_root) / LEDGER_DIR).rglob("*.json"))


# -- item 2: the inbox protocol ---------------------------------------------------------------------


def test_file_appended_to_while_scanned_is_refused_then_taken_whole(settings) -> None:  # type: ignore[no-untyped-def]
    """A real concurrent writer keeps appending while the inbox is scanned (issue: 12 of 24 rows lost)."""
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    path = inbox / "station_export.csv"
    started, stop = threading.Event(), threading.Event()
    written = 0

    def writer() -> None:
        nonlocal written
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(HEADER)
            while not stop.is_set() and written < 20_000:
                fh.write(_row(written))
                fh.flush()
                written += 1
                if written == 12:
                    started.set()
                time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(10)
        first = scan_inbox(settings, settle_s=0)  # no settle: only the fingerprint can catch it
    finally:
        stop.set()
        thread.join()
    (f,) = first.files
    assert f.status == "changed", f.reason
    assert "changed after it was read" in f.reason and "station_export.csv.part" in f.reason
    assert path.exists() and not (inbox / "done").exists()  # not moved
    assert _ledger_entries(settings) == []  # not recorded as ingested
    assert "station_export.csv" in first.waiting

    second = scan_inbox(settings, settle_s=0)  # the writer has finished
    (g,) = second.files
    assert (g.status, g.readings) == ("ingested", written)
    assert not path.exists() and len(_ledger_entries(settings)) == 1
    df = landing_readings(settings)
    assert (
        df.select("site_id", "parameter", "period_start").unique().height == written
    )  # every row landed


def test_ready_marker_takes_a_file_at_once_and_is_removed(settings) -> None:  # type: ignore[no-untyped-def]
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    write(inbox / "lab.csv", HEADER + _row(0))
    (inbox / "lab.csv.ready").touch()
    write(inbox / "other.csv", HEADER + _row(1, "tiantan"))  # no marker: must settle first
    write(inbox / ".hidden.csv", HEADER + _row(2))  # being written under a dot name
    (inbox / "orphan.csv.ready").touch()  # a marker whose file is not there

    def sleep(_s: float) -> None:  # the unmarked file grows during the settle look
        with open(inbox / "other.csv", "a", encoding="utf-8") as fh:
            fh.write(_row(3, "tiantan"))

    report = scan_inbox(settings, settle_s=30, sleep=sleep)
    assert [(Path(f.path).name, f.status) for f in report.files] == [("lab.csv", "ingested")]
    assert sorted(report.waiting) == ["orphan.csv.ready (marker without its file)", "other.csv"]
    assert not (inbox / "lab.csv.ready").exists() and (inbox / "orphan.csv.ready").exists()
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == [
        ".hidden.csv",
        "orphan.csv.ready",
        "other.csv",
    ]


def test_cli_inbox_help_documents_the_protocol() -> None:
    import typer
    from typer.testing import CliRunner

    from envmon.cli import files as files_cli

    app = typer.Typer()
    files_cli.register(app)
    out = CliRunner().invoke(app, ["ingest", "inbox", "--help"], env={"COLUMNS": "200"}).output
    assert "NAME.part" in out and "NAME.ready" in out and "docs/inbox.md" in out


# -- item 3: limits, streaming, quarantine by moving ------------------------------------------------


def _bomb(path: Path, megabytes: int = 1) -> Path:
    """About `megabytes` of gzip that expands ~1000 times: a CSV header, then gzip members of 1 MiB
    of "0" each (concatenated members are one valid gzip file, as `gzip -c a b > c` makes)."""
    member = gzip.compress(b"0" * (1 << 20), compresslevel=9)
    count = megabytes * (1 << 20) // len(member)
    path.write_bytes(gzip.compress(HEADER.encode()) + member * count)
    return path


def test_gzip_bomb_is_refused_early_and_moved_to_quarantine(settings) -> None:  # type: ignore[no-untyped-def]
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    bomb = _bomb(inbox / "bomb.csv.gz")
    assert 900_000 < bomb.stat().st_size < 1_200_000  # the 1 MB bomb (about 1 GB inside)
    inode = bomb.stat().st_ino
    report = scan_inbox(settings, settle_s=0)
    (f,) = report.files
    assert f.status == "rejected" and "file_max_gzip_ratio" in f.reason, f.reason
    # stopped within the first few MB, not after the whole expansion
    gave = int(f.reason.split(" gave ")[1].split(" ")[0].replace(",", ""))
    assert gave < 4 << 20
    target = Path(f.quarantined)
    assert target.stat().st_ino == inode and not bomb.exists()  # moved (renamed), not copied
    assert "gzip bomb" in Path(str(target) + ".reason.txt").read_text(encoding="utf-8")


def test_gzip_ratio_limit_both_sides(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # ~1.6 MB of CSV (hours up to 2026-08, two sites), compresses ~10-20x
    rows = "".join(_row(i) for i in range(20_000)) + "".join(
        _row(i, "tiantan") for i in range(20_000)
    )
    path = write(tmp_path / "year.csv.gz", HEADER + rows, gz=True)
    ratio = (len(HEADER) + len(rows)) / path.stat().st_size
    _set(monkeypatch, file_max_gzip_ratio=round(ratio * 1.5, 1))  # just above: accepted
    assert ingest_paths([path]).files[0].status == "ingested"
    other = write(tmp_path / "year2.csv.gz", HEADER + rows.replace(",N\n", ",M\n"), gz=True)
    _set(monkeypatch, file_max_gzip_ratio=round(ratio / 1.5, 1))  # below its ratio: refused
    f = ingest_paths([other]).files[0]
    assert f.status == "rejected" and "file_max_gzip_ratio" in f.reason


def test_decompressed_size_limit_both_sides(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    text = HEADER + "".join(_row(i) for i in range(20))
    _set(monkeypatch, file_max_decompressed_bytes=len(text))
    assert ingest_paths([write(tmp_path / "a.csv.gz", text, gz=True)]).files[0].status == "ingested"
    _set(monkeypatch, file_max_decompressed_bytes=len(text) - 1)
    f = ingest_paths(
        [write(tmp_path / "b.csv.gz", text.replace("dongsi", "tiantan"), gz=True)]
    ).files[0]
    assert f.status == "rejected" and "file_max_decompressed_bytes" in f.reason


def test_file_size_limit_both_sides_and_no_copy_of_a_huge_file(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    text = HEADER + _row(0)
    size = len(text.encode())
    _set(monkeypatch, file_max_bytes=size)
    assert ingest_paths([write(tmp_path / "fits.csv", text)]).files[0].status == "ingested"
    big = write(tmp_path / "big.csv", HEADER + _row(1) + " ")
    f = ingest_paths([big]).files[0]
    assert f.status == "rejected" and "file_max_bytes" in f.reason and "not read" in f.reason
    assert (
        big.exists() and not Path(f.quarantined).exists()
    )  # a command-line file: left, not copied
    assert str(big) in Path(f.quarantined + ".reason.txt").read_text(encoding="utf-8")


def test_line_length_limit_names_the_line_both_sides(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _set(monkeypatch, file_max_line_bytes=100)
    ok_line = _row(0).rstrip("\n")
    ok_line = ok_line.replace(",N", "," + "N".ljust(100 - len(ok_line) + 1))
    assert len(ok_line) == 100
    f = ingest_paths([write(tmp_path / "ok.csv", HEADER + ok_line + "\n")]).files[0]
    assert f.status == "ingested"  # (its padded flag is refused as a row, the file is read)
    f = ingest_paths([write(tmp_path / "long.csv", HEADER + _row(1) + ok_line + "x\n")]).files[0]
    assert (
        f.status == "rejected"
        and "line 3 is 101 bytes long" in f.reason
        and "file_max_line_bytes" in f.reason
    )


def test_oversized_row_is_reported_as_such_not_straddling(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Default limits: a 70 MB row (bigger than the CSV reader's 64 MB block) is named as a long line."""
    path = tmp_path / "straddle.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER + _row(0))
        fh.write("dongsi,pm25,2024-05-01 09:00," + "9" * (70 << 20) + ",ug/m3,N\n")
    f = ingest_paths([path]).files[0]
    assert f.status == "rejected" and "line 3 is" in f.reason and "file_max_line_bytes" in f.reason
    assert "straddl" not in f.reason


def test_row_count_limit_both_sides(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _set(monkeypatch, file_max_rows=5)
    assert (
        ingest_paths([write(tmp_path / "five.csv", HEADER + "".join(_row(i) for i in range(5)))])
        .files[0]
        .status
        == "ingested"
    )
    f = ingest_paths(
        [write(tmp_path / "six.csv", HEADER + "".join(_row(i) for i in range(10, 16)))]
    ).files[0]
    assert f.status == "rejected" and "file_max_rows" in f.reason


# -- item 12: encodings -----------------------------------------------------------------------------


def test_mixed_utf8_and_gbk_is_an_encoding_problem_not_an_unknown_site(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    header = "站点,时间,PM2.5\n".encode()
    utf8 = "东四,2024-05-01 08:00,35\n".encode()
    gbk = "天坛,2024-05-01 08:00,30\n".encode("gbk")
    path = tmp_path / "mixed.csv"
    path.write_bytes(header + utf8 + gbk)
    f = ingest_paths([path], profile="generic_long_csv").files[0]
    assert f.status == "rejected"
    assert (
        "mixed encodings" in f.reason
        and "line(s) 1, 2 are UTF-8" in f.reason
        and "line(s) 3 are not" in f.reason
    )
    assert "天坛" in f.reason and "涓" not in f.reason


def test_pure_gbk_file_still_reads(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The other side: a file in GBK throughout is not mixed."""
    path = write(
        tmp_path / "gbk.csv",
        HEADER + _row(0) + "dongsi,pm10,2024-05-01 08:00,40,ug/m3,\n",
        encoding="gbk",
    )
    path.write_bytes(path.read_bytes() + "# 备注\n".encode("gbk"))
    f = ingest_paths([path]).files[0]
    assert f.status == "ingested" and f.readings == 2


# -- item 11: the reading contract in file ingest ---------------------------------------------------


def test_reading_contract_refuses_rows_by_file_and_line(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    earliest = get_settings().reading_earliest  # 2000-01-01 (UTC): 08:00 local in Asia/Shanghai
    future = datetime.now(UTC).astimezone(get_settings().tz) + timedelta(hours=2)
    lines = [
        "dongsi,pm25,2024-05-01 08:00,35,ug/m3,",  # 2 empty flag: no flag, accepted
        "dongsi,pm25,2024-05-01 09:00,35,ug/m3,X",  # 3 unknown flag
        "dongsi,pm25,1970-01-01 08:00,35,ug/m3,N",  # 4 a reset logger clock
        f"dongsi,pm25,{future:%Y-%m-%d %H:%M},35,ug/m3,N",  # 5 two hours ahead
        f"dongsi,pm10,{earliest:%Y-%m-%d} 08:00,35,ug/m3,N",  # 6 exactly the earliest: accepted
        f"dongsi,pm10,{earliest:%Y-%m-%d} 07:00,35,ug/m3,N",  # 7 an hour before it: refused
        "dongsi,pm25,2024-05-01 10:00,35,ug/m3, N ",  # 8 flag with blanks: N
    ]
    path = write(tmp_path / "contract.csv", HEADER + "\n".join(lines) + "\n")
    (f,) = ingest_paths([path]).files
    reasons = {b.line: b.reason for b in f.bad_rows}
    assert sorted(reasons) == [3, 4, 5, 7]
    assert reasons[3].startswith("field 'flag': 'X' is not a data flag")
    assert "before 2000-01-01" in reasons[4] and "before 2000-01-01" in reasons[7]
    assert "in the future" in reasons[5]
    assert f.readings == 3
    df = landing_readings(settings)
    flags = dict(zip(df["origin"].to_list(), df["flag"].to_list(), strict=True))
    assert flags == {f"{path}:2": None, f"{path}:6": "N", f"{path}:8": "N"}
    dead = {d["origin"]: d["reason"] for d in landing_dead_letters(settings)}
    assert set(dead) == {f"{path}:{n}" for n in (3, 4, 5, 7)}  # one dead letter per line


def test_contract_refusal_merges_with_other_reasons_of_the_line(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Wide rows: a line with one bad cell and a bad flag is one bad row carrying both reasons."""
    path = write(tmp_path / "wide.csv", HEADER + "dongsi,pm25,2024-05-01 08:00,abc,ug/m3,ZZ\n")
    (f,) = ingest_paths([path]).files
    assert [b.line for b in f.bad_rows] == [2]


def test_env_is_clean() -> None:
    assert "ENVMON_FILE_MAX_BYTES" not in os.environ


def test_xlsx_row_limit_both_sides(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from test_formats import water_lab_sheet

    def row(n: int) -> list:
        return [
            n,
            "密云水库库中",
            date(2024, 5, n),
            "09:30",
            16.2,
            7.9,
            9.1,
            1.8,
            10,
            0.2,
            0.01,
            0.52,
            f"W{n}",
            None,
        ]

    _set(monkeypatch, file_max_rows=2)
    two = water_lab_sheet(tmp_path / "two.xlsx", [row(1), row(2)])
    assert ingest_paths([two]).files[0].status == "ingested"
    three = water_lab_sheet(tmp_path / "three.xlsx", [row(3), row(4), row(5)])
    f = ingest_paths([three]).files[0]
    assert f.status == "rejected" and "file_max_rows" in f.reason and "水质分析结果" in f.reason


def test_directory_ingest_skips_markers_and_parts(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(tmp_path / "a.csv", HEADER + _row(0))
    (tmp_path / "a.csv.ready").touch()
    write(tmp_path / "b.csv.part", HEADER + _row(1))
    report = ingest_paths([tmp_path])
    assert [(Path(f.path).name, f.status) for f in report.files] == [("a.csv", "ingested")]


def test_two_refused_files_of_one_name_never_overwrite_each_other(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    _set(
        monkeypatch, file_max_bytes=10
    )  # both refused before they are read (no hash to tell them apart)
    settings = get_settings()
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True)
    targets = []
    for text in (HEADER + _row(0), HEADER + _row(1)):
        write(inbox / "same.csv", text)
        (f,) = scan_inbox(settings, settle_s=0).files
        assert f.status == "rejected"
        targets.append(Path(f.quarantined))
    assert targets[0] != targets[1]
    assert [t.read_text(encoding="utf-8") for t in targets] == [HEADER + _row(0), HEADER + _row(1)]


def test_xlsx_zip_bomb_is_refused_before_openpyxl_reads_it(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An .xlsx is a zip: one whose sheet XML expands ~1000x is refused by its stated sizes."""
    import zipfile

    from test_formats import water_lab_sheet

    good = water_lab_sheet(
        tmp_path / "good.xlsx",
        [
            [
                1,
                "密云水库库中",
                "2024-05-08",
                "09:30",
                16.2,
                7.9,
                9.1,
                1.8,
                10,
                0.2,
                0.01,
                0.52,
                "W1",
                None,
            ]
        ],
    )
    assert (
        ingest_paths([good]).files[0].status == "ingested"
    )  # the other side: a real workbook reads
    bomb = tmp_path / "bomb.xlsx"
    with (
        zipfile.ZipFile(good) as src,
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("xl/padding.bin", b"\0" * (200 << 20))  # 200 MB of zeros: ~200 KB compressed
    f = ingest_paths([bomb], profile="water_lab_xlsx").files[0]
    assert f.status == "rejected" and "file_max_gzip_ratio" in f.reason and "zip bomb" in f.reason
