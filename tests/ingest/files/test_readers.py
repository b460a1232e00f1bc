"""ingest.files.readers: a file read into a table of strings with each row's line, or refused
whole with a message naming the limit, the line or the encoding."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from ingest.files.profiles import Profile
from ingest.files.readers import LINE, FileLimits, FileRejected, SourceFile

BIG = FileLimits(max_bytes=1 << 30, max_decompressed_bytes=1 << 30, max_gzip_ratio=100.0, max_rows=1_000_000,
                 max_line_bytes=1 << 20)
HEADER = "site_id,parameter,period_start,value,unit\n"
ROW = "dongsi,pm25,2024-03-01T08:00,12.0,ug/m3\n"


def profile(fmt: str = "csv", **over: Any) -> Profile:
    return Profile.model_validate({
        "name": "t", "format": fmt, "layout": "long", "detect": {"header": ["site_id"]}, "interval_s": 3600,
        "site": {"column": "site_id"}, "time": {"column": "period_start"},
        "long": {"parameter_column": "parameter", "value_column": "value", "unit_column": "unit"}, **over})


def limits(**over: Any) -> FileLimits:
    return FileLimits(**{**BIG.__dict__, **over})


def src(path: Path, data: bytes, lim: FileLimits = BIG) -> SourceFile:
    path.write_bytes(data)
    return SourceFile(path, lim)


# -- names, kinds, limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "base", "kind"),
    [("a.csv", "a.csv", "csv"), ("a.CSV.gz", "a.CSV", "csv"), ("a.txt", "a.txt", "csv"), ("a.xlsx", "a.xlsx", "xlsx"),
     ("a.jsonl", "a.jsonl", "jsonl"), ("a.ndjson.gz", "a.ndjson", "jsonl"), ("a.json", "a.json", "jsonl"),
     ("a.xls", "a.xls", None), ("a.gz", "a", None)],
)
def test_name_and_kind_ignore_gz(tmp_path: Path, name: str, base: str, kind: str | None) -> None:
    s = SourceFile(tmp_path / name, BIG)
    assert (s.name, s.kind) == (base, kind)


def test_limits_come_from_the_settings(settings: Settings) -> None:
    lim = FileLimits.from_settings(settings)
    assert lim == FileLimits(settings.file_max_bytes, settings.file_max_decompressed_bytes,
                             settings.file_max_gzip_ratio, settings.file_max_rows, settings.file_max_line_bytes)
    assert FileLimits.from_settings() == lim  # the current settings when none are given


def test_file_size_limit_both_sides(tmp_path: Path) -> None:
    data = (HEADER + ROW).encode()
    assert src(tmp_path / "ok.csv", data, limits(max_bytes=len(data))).data == data
    s = src(tmp_path / "big.csv", data, limits(max_bytes=len(data) - 1))
    with pytest.raises(FileRejected, match=rf"^{len(data)} bytes is larger than file_max_bytes \({len(data) - 1}; "
                                           r"ENVMON_FILE_MAX_BYTES\); not read$"):
        s.data  # noqa: B018


# -- gzip -------------------------------------------------------------------------------------


def test_gzip_is_read_whatever_the_name_and_hashes_as_its_content(tmp_path: Path) -> None:
    data = (HEADER + ROW).encode()
    plain = src(tmp_path / "a.csv", data)
    packed = src(tmp_path / "a.csv.gz", gzip.compress(data))
    misnamed = src(tmp_path / "b.csv", gzip.compress(data))  # gzip magic, no .gz
    assert packed.data == misnamed.data == data
    assert packed.sha256 == plain.sha256  # x.csv and x.csv.gz are the same file
    assert packed.raw_sha256 != plain.raw_sha256  # the stored bytes differ


def test_concatenated_gzip_members_are_all_read(tmp_path: Path) -> None:
    s = src(tmp_path / "a.csv.gz", gzip.compress(HEADER.encode()) + gzip.compress(ROW.encode()))
    assert s.data == (HEADER + ROW).encode()


def test_decompressed_size_limit_both_sides(tmp_path: Path) -> None:
    data = (HEADER + ROW * 20).encode()
    assert src(tmp_path / "ok.csv.gz", gzip.compress(data), limits(max_decompressed_bytes=len(data))).data == data
    s = src(tmp_path / "big.csv.gz", gzip.compress(data), limits(max_decompressed_bytes=len(data) - 1))
    with pytest.raises(FileRejected, match=r"^gzip content is larger than file_max_decompressed_bytes "
                                           rf"\({len(data) - 1:,} bytes; ENVMON_FILE_MAX_DECOMPRESSED_BYTES\)"):
        s.data  # noqa: B018


def test_gzip_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    bomb = gzip.compress(b"0" * (4 << 20))  # 4 MiB of one byte: ~1000x
    s = src(tmp_path / "bomb.csv.gz", bomb, limits(max_gzip_ratio=100.0))
    with pytest.raises(FileRejected, match=r"^gzip expands more than file_max_gzip_ratio \(100x; "
                                           r"ENVMON_FILE_MAX_GZIP_RATIO\): .* \(a gzip bomb\?\)$"):
        s.data  # noqa: B018
    assert len(src(tmp_path / "ok.csv.gz", bomb, limits(max_gzip_ratio=10_000.0)).data) == 4 << 20


def test_truncated_or_broken_gzip_is_refused(tmp_path: Path) -> None:
    packed = gzip.compress((HEADER + ROW * 50).encode())
    with pytest.raises(FileRejected, match=r"^not a readable gzip file: it ends in the middle of the compressed data$"):
        src(tmp_path / "cut.csv.gz", packed[: len(packed) // 2]).data  # noqa: B018
    with pytest.raises(FileRejected, match=r"^not a readable gzip file: "):
        src(tmp_path / "bad.csv.gz", packed[:10] + b"\xff" * 40).data  # noqa: B018


# -- encodings --------------------------------------------------------------------------------


def test_utf8_with_and_without_bom(tmp_path: Path) -> None:
    text = "测点名称,Leq\n东四,55.1\n".encode()
    plain = src(tmp_path / "a.csv", text)
    assert plain.utf8() == text and plain.encoding == "utf-8"
    bom = src(tmp_path / "b.csv", b"\xef\xbb\xbf" + text)
    assert bom.utf8() == text and bom.encoding == "utf-8-sig"


def test_gbk_is_re_encoded_to_utf8(tmp_path: Path) -> None:
    s = src(tmp_path / "a.csv", "测点名称,Leq\n东四,55.1\n".encode("gbk"))
    assert s.utf8().decode("utf-8") == "测点名称,Leq\n东四,55.1\n" and s.encoding == "gb18030"
    assert s.utf8("gb18030").decode("utf-8").startswith("测点名称")


def test_mixed_encodings_name_the_lines_of_each(tmp_path: Path) -> None:
    data = "测点名称,Leq\n".encode() + "东四,55.1\n".encode("gbk") + b"x,1\n" + "天坛,50\n".encode()
    s = src(tmp_path / "a.csv", data)
    with pytest.raises(FileRejected) as err:
        s.utf8()
    assert str(err.value).startswith("mixed encodings: line(s) 1, 4 are UTF-8 but line(s) 2 are not "
                                     "(they read as GBK/GB18030, e.g. line 2: '东四,55.1'); save the whole file")


def test_profile_encoding_mismatches_are_named(tmp_path: Path) -> None:
    gbk = src(tmp_path / "a.csv", "h\n东四\n".encode("gbk"))
    with pytest.raises(FileRejected, match=r"^not valid UTF-8 at line 2 \(byte 2\), though the profile says UTF-8$"):
        gbk.utf8("utf-8")
    bom_gbk = src(tmp_path / "b.csv", b"\xef\xbb\xbf" + "h\n东四\n".encode("gbk"))
    with pytest.raises(FileRejected, match=r"^not valid UTF-8 at line 2 \(byte 2\), though its BOM says UTF-8$"):
        bom_gbk.utf8()
    utf8 = src(tmp_path / "c.csv", "h\n东四\n".encode())
    with pytest.raises(FileRejected, match=r"^the profile says gb18030 but the file is UTF-8 text"):
        utf8.utf8("gb18030")
    binary = src(tmp_path / "d.csv", b"h\n\x80\x80\x80\xff\n")
    with pytest.raises(FileRejected, match=r"^neither UTF-8 nor GBK/GB18030 text \(line 2, byte \d+\)$"):
        binary.utf8()


# -- CSV --------------------------------------------------------------------------------------


def test_csv_cells_are_text_with_their_physical_line(tmp_path: Path) -> None:
    s = src(tmp_path / "a.csv", (HEADER + ROW + "dongsi,pm10,2024-03-01T08:00,007,ug/m3\n"
                                 + ",pm10,2024-03-01T09:00,,\n").encode())
    t = s.read(profile())
    assert t.invalid == []
    assert t.df.columns == ["site_id", "parameter", "period_start", "value", "unit", LINE]
    assert t.df["value"].to_list() == ["12.0", "007", ""]  # never parsed here: "007" stays, "" stays
    assert t.df["site_id"].to_list() == ["dongsi", "dongsi", ""]
    assert t.df[LINE].to_list() == [2, 3, 4]


def test_csv_rows_of_the_wrong_width_are_reported_by_line_and_skipped(tmp_path: Path) -> None:
    s = src(tmp_path / "a.csv", (HEADER + ROW + "dongsi,pm25,2024-03-01T09:00,13.0\n" + ROW.replace("08:00", "10:00")
                                 + "a,b,c,d,e,f\n").encode())
    t = s.read(profile())
    assert t.invalid == [(3, "expected 5 fields, found 4"), (5, "expected 5 fields, found 6")]
    assert t.df[LINE].to_list() == [2, 4]
    assert t.df["period_start"].to_list() == ["2024-03-01T08:00", "2024-03-01T10:00"]
    assert s.raw_line(3, profile()) == b"dongsi,pm25,2024-03-01T09:00,13.0"
    assert s.raw_line(99, profile()) == b"" and s.raw_line(0, profile()) == b""


def test_csv_header_row_and_delimiter_from_the_profile(tmp_path: Path) -> None:
    s = src(tmp_path / "a.csv", ("2024年3月 东四\r\n" + (HEADER + ROW).replace(",", ";").replace("\n", "\r\n")).encode())
    p = profile(header_row=2, delimiter=";")
    assert s.header(p) == ["site_id", "parameter", "period_start", "value", "unit"]
    t = s.read(p)
    assert t.df[LINE].to_list() == [3] and t.df["unit"].to_list() == ["ug/m3"]


def test_csv_without_a_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"^no header at line 1$"):
        src(tmp_path / "a.csv", b"").read(profile())
    with pytest.raises(FileRejected, match=r"^no header at line 3$"):
        src(tmp_path / "b.csv", (HEADER + ROW).encode()).read(profile(header_row=3))


def test_row_count_limit_both_sides(tmp_path: Path) -> None:
    data = (HEADER + ROW * 3).encode()
    assert src(tmp_path / "ok.csv", data, limits(max_rows=3)).read(profile()).df.height == 3
    with pytest.raises(FileRejected, match=r"^5 lines is more than file_max_rows \(3; ENVMON_FILE_MAX_ROWS\): "
                                           r"split the file$"):
        src(tmp_path / "big.csv", data + ROW.encode(), limits(max_rows=3)).read(profile())


def test_line_length_limit_names_the_line_both_sides(tmp_path: Path) -> None:
    long_row = "dongsi,pm25,2024-03-01T09:00," + "9" * 40 + ",ug/m3"
    n = len(long_row.encode())
    data = (HEADER + ROW + long_row + "\n").encode()
    assert src(tmp_path / "ok.csv", data, limits(max_line_bytes=n)).read(profile()).df.height == 2
    with pytest.raises(FileRejected, match=rf"^line 3 is {n} bytes long, more than file_max_line_bytes \({n - 1}; "
                                           r"ENVMON_FILE_MAX_LINE_BYTES\)"):
        src(tmp_path / "long.csv", data, limits(max_line_bytes=n - 1)).read(profile())


# -- JSON lines -------------------------------------------------------------------------------


def test_jsonl_cells_as_text_and_bad_lines_by_number(tmp_path: Path) -> None:
    lines = [json.dumps({"site_id": "dongsi", "parameter": "pm25", "value": 12.0, "unit": "ug/m3"}), "",
             "{not json", json.dumps([1, 2]),
             json.dumps({"site_id": "天坛", "parameter": "pm25", "value": 12.5, "flag": None, "n": 3})]
    s = src(tmp_path / "a.jsonl", ("\n".join(lines) + "\n").encode())
    t = s.read(profile("jsonl"))
    assert t.df.columns == ["site_id", "parameter", "value", "unit", "flag", "n", LINE]
    assert t.df["value"].to_list() == ["12", "12.5"]  # 12.0 reads as a CSV export would hold it
    assert t.df["unit"].to_list() == ["ug/m3", None] and t.df["flag"].to_list() == [None, None]
    assert t.df["site_id"].to_list() == ["dongsi", "天坛"] and t.df[LINE].to_list() == [1, 5]
    assert t.invalid == [(3, "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
                         (4, "not a JSON object")]
    assert s.header(profile("jsonl")) == ["site_id", "parameter", "value", "unit", "flag", "n"]


# -- XLSX -------------------------------------------------------------------------------------


def workbook(path: Path, rows: list[list[Any]], title: str = "Sheet1") -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_xlsx_cells_as_text_with_their_sheet_row(tmp_path: Path) -> None:
    path = workbook(tmp_path / "lab.xlsx", [
        ["2024年5月 地表水监测断面水质分析结果"],
        [" 断面名称 ", "采样日期", "采样时间", "pH(无量纲)", None],
        ["密云水库", datetime(2024, 5, 6), datetime(2024, 5, 6, 9, 30), 7.0, "x"],
        [None, None, None, None, None],  # an empty row is not data
        ["潮白河顺义", datetime(2024, 5, 6), "10:00", 7.25, None],
    ])
    p = profile("xlsx", header_row=2)
    s = SourceFile(path, BIG)
    assert s.header(p) == ["断面名称", "采样日期", "采样时间", "pH(无量纲)"]
    t = s.read(p)
    assert t.df.columns == ["断面名称", "采样日期", "采样时间", "pH(无量纲)", "column5", LINE]
    assert t.df.rows() == [("密云水库", "2024-05-06", "2024-05-06 09:30:00", "7", "x", 3),
                           ("潮白河顺义", "2024-05-06", "10:00", "7.25", None, 5)]
    assert json.loads(t.raw_rows[5]) == {"断面名称": "潮白河顺义", "采样日期": "2024-05-06", "采样时间": "10:00",
                                         "pH(无量纲)": "7.25", "column5": None}


def test_xlsx_sheet_by_name_or_refused_naming_the_sheets(tmp_path: Path) -> None:
    path = workbook(tmp_path / "lab.xlsx", [["site_id"], ["dongsi"]], title="结果")
    assert SourceFile(path, BIG).read(profile("xlsx", sheet="结果")).df["site_id"].to_list() == ["dongsi"]
    with pytest.raises(FileRejected, match=r"^no sheet 'Sheet1'; sheets: 结果$"):
        SourceFile(path, BIG).read(profile("xlsx", sheet="Sheet1"))


def test_not_a_workbook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match=r"^not readable as XLSX: "):
        src(tmp_path / "lab.xlsx", (HEADER + ROW).encode()).read(profile("xlsx"))


# -- changed() --------------------------------------------------------------------------------


def test_changed_is_none_until_read_and_while_unchanged(tmp_path: Path) -> None:
    s = src(tmp_path / "a.csv", (HEADER + ROW).encode())
    assert s.changed() is None  # never read: nothing to compare
    s.read(profile())
    assert s.changed() is None and s.changed(content=False) is None


def test_changed_names_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    s = src(path, (HEADER + ROW).encode())
    s.data  # noqa: B018
    st = path.stat()
    with path.open("ab") as fh:
        fh.write(ROW.encode())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # only the size differs
    size = len((HEADER + ROW).encode())
    assert s.changed() == f"it changed after it was read: size {size} -> {size + len(ROW)} bytes"


def test_changed_content_of_same_size_and_time_is_caught_by_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    s = src(path, (HEADER + ROW).encode())
    s.data  # noqa: B018
    st = path.stat()
    path.write_bytes((HEADER + ROW.replace("12.0", "13.0")).encode())  # same length, same inode
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert s.changed(content=False) is None  # size, time and inode agree
    assert s.changed() == "it changed after it was read: same size and time but other content (hash)"


def test_changed_when_removed_or_replaced(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    s = src(path, (HEADER + ROW).encode())
    s.data  # noqa: B018
    other = tmp_path / "b.csv"
    other.write_bytes((HEADER + ROW).encode())
    st = path.stat()
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)  # another file (inode) of the same size and time
    assert s.changed() == "it changed after it was read: replaced by another file (inode)"
    path.unlink()
    assert s.changed() == "it was removed or renamed while it was read"
