"""Output names cannot escape the output root; writes are atomic."""

from __future__ import annotations

import os

import pytest

from publish.output import OutputRoot, UnsafePathError, safe_relpath


@pytest.mark.parametrize(
    "name",
    [
        "../index.html",
        "daily/../../etc/passwd",
        "/etc/passwd",
        "daily\\..\\x.html",
        "daily//x.html",
        "./index.html",
        "daily/..",
        "a/b/../../..",
        "",
        "x\x00.html",
        "daily/<script>.html",
        "daily/.hidden",
        "daily/a..b.html",
    ],
)
def test_unsafe_names_are_refused(name, tmp_path):
    with pytest.raises(UnsafePathError):
        safe_relpath(name)
    root = OutputRoot(str(tmp_path / "site"))
    with pytest.raises(UnsafePathError):
        root.write(name, b"x")
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").rglob("*"))


@pytest.mark.parametrize(
    "name", ["index.html", "daily/2016-12-01.json", "disclosure/2016-12/table1_air.csv"]
)
def test_plain_names_are_accepted(name, tmp_path):
    root = OutputRoot((tmp_path / "site").as_uri())
    root.write(name, b"data")
    assert (tmp_path / "site" / name).read_bytes() == b"data"
    root.write(name, b"data")
    assert root.written == [name, name] and root.changed == [name]


def test_a_symlinked_folder_pointing_outside_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    os.symlink(outside, site / "daily")
    with pytest.raises(UnsafePathError, match="outside the output root"):
        OutputRoot(str(site)).write("daily/x.html", b"x")
    assert list(outside.iterdir()) == []


def test_names_lists_the_files_under_a_folder(tmp_path):
    root = OutputRoot(str(tmp_path / "site"))
    assert root.names("daily") == []  # no folder yet
    for name in (
        "daily/2016-12-02.html",
        "daily/2016-12-01.html",
        "daily/2016-12-01.json",
        "index.html",
    ):
        root.write(name, b"x")
    (tmp_path / "site" / "daily" / ".tmp-2016-12-03.html.123").write_bytes(b"half")
    assert root.names("daily") == [
        "daily/2016-12-01.html",
        "daily/2016-12-01.json",
        "daily/2016-12-02.html",
    ]
    with pytest.raises(UnsafePathError):
        root.names("../outside")
