"""ingest.files.quarantine: rejected files and bad rows kept with a reason beside them, never
overwriting each other."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.files.quarantine import quarantine_file, quarantine_rows

SHA = hashlib.sha256(b"x").hexdigest()


def today(quarantine: Path) -> Path:
    # the folder is named by the UTC date; a test running across midnight UTC would see two
    return quarantine / "files" / f"{datetime.now(UTC):%Y-%m-%d}"


def reason_of(target: Path) -> str:
    return target.with_name(target.name + ".reason.txt").read_text(encoding="utf-8")


def test_a_file_from_the_inbox_is_moved_with_its_reason(tmp_path: Path) -> None:
    inbox_file = tmp_path / "inbox" / "东四.csv"
    inbox_file.parent.mkdir()
    inbox_file.write_bytes(b"site_id\n")
    q = tmp_path / "quarantine"
    target = quarantine_file(inbox_file, SHA, "no header at line 1\n\n", q, move=True)
    assert target == today(q) / f"{SHA[:12]}-东四.csv"
    assert target.read_bytes() == b"site_id\n" and not inbox_file.exists()
    assert reason_of(target) == "no header at line 1\n"  # one final newline, whatever was given


def test_a_file_given_on_the_command_line_is_copied_and_stays(tmp_path: Path) -> None:
    given = tmp_path / "data.csv"
    given.write_bytes(b"abc")
    target = quarantine_file(given, SHA, "bad", tmp_path / "q", move=False)
    assert given.read_bytes() == b"abc" and target.read_bytes() == b"abc"
    assert reason_of(target) == "bad\n"


def test_copy_limit_both_sides(tmp_path: Path) -> None:
    given = tmp_path / "big.csv"
    given.write_bytes(b"0123456789")
    at_limit = quarantine_file(given, SHA, "bad", tmp_path / "q", move=False, copy_max_bytes=10)
    assert at_limit.read_bytes() == b"0123456789" and reason_of(at_limit) == "bad\n"
    given.write_bytes(b"0" * 1234)
    over = quarantine_file(given, SHA, "bad", tmp_path / "q", move=False, copy_max_bytes=1233)
    assert not over.exists()  # not copied; the reason says where the original is
    assert reason_of(over) == f"bad\n(not copied into quarantine: 1,234 bytes; the file is still at {given})\n"
    assert given.exists()


def test_two_files_of_one_name_and_hash_never_overwrite(tmp_path: Path) -> None:
    q = tmp_path / "q"
    targets = []
    for n in range(3):
        f = tmp_path / "a.csv"
        f.write_bytes(f"version {n}".encode())
        targets.append(quarantine_file(f, SHA, f"reason {n}", q, move=True))
    assert [t.name for t in targets] == [f"{SHA[:12]}-a.csv", f"{SHA[:12]}-2-a.csv", f"{SHA[:12]}-3-a.csv"]
    assert [t.read_bytes() for t in targets] == [b"version 0", b"version 1", b"version 2"]
    assert [reason_of(t) for t in targets] == ["reason 0\n", "reason 1\n", "reason 2\n"]


def test_a_left_reason_file_also_blocks_the_name(tmp_path: Path) -> None:
    q = tmp_path / "q"
    folder = today(q)
    folder.mkdir(parents=True)
    (folder / f"{SHA[:12]}-a.csv.reason.txt").write_text("an earlier file's reason (not copied: too big)\n")
    f = tmp_path / "a.csv"
    f.write_bytes(b"x")
    assert quarantine_file(f, SHA, "r", q, move=False).name == f"{SHA[:12]}-2-a.csv"


def test_a_missing_file_to_move_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        quarantine_file(tmp_path / "gone.csv", SHA, "r", tmp_path / "q", move=True)


def test_bad_rows_are_written_as_csv_for_excel_with_formulas_made_inert(tmp_path: Path) -> None:
    q = tmp_path / "q"
    rows = [(3, "unknown site 'xx'; valid choices: dongsi", b"xx,pm25,2024-03-01T08:00,12"),
            (7, "=HYPERLINK(\"http://x\")", "=东四,pm25,,-3.5".encode()),
            (9, "not UTF-8", b"\xff\xfe,1")]
    target = quarantine_rows("export.csv", SHA, rows, q, "3 bad rows of 10 skipped")
    assert target == today(q) / f"{SHA[:12]}-export.csv.bad-rows.csv"
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens Chinese text right
    read = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert read == [
        ["line", "reason", "raw"],
        ["3", "unknown site 'xx'; valid choices: dongsi", "xx,pm25,2024-03-01T08:00,12"],
        ["7", "'=HYPERLINK(\"http://x\")", "'=东四,pm25,,-3.5"],
        ["9", "not UTF-8", "\ufffd\ufffd,1"],
    ]
    assert reason_of(target) == "3 bad rows of 10 skipped\n"
