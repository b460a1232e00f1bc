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
