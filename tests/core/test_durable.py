"""core.durable.write_durably: the file is whole or absent, with its mode from creation on."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from core import durable
from core.durable import write_durably


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_the_file_and_leaves_no_tmp(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out.json", tmp_path / ".out.json.tmp"
    write_durably(final, tmp, lambda fh: fh.write("密云水库\n".encode()))
    assert final.read_text(encoding="utf-8") == "密云水库\n"
    assert not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".out.tmp"
    final.write_bytes(b"old")
    write_durably(final, tmp, lambda fh: fh.write(b"new"))
    assert final.read_bytes() == b"new"


def test_a_failed_write_keeps_the_old_file_and_removes_the_tmp(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".out.tmp"
    final.write_bytes(b"old")

    def half(fh: BinaryIO) -> None:
        fh.write(b"par")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_durably(final, tmp, half)
    assert final.read_bytes() == b"old"  # readers never see a part
    assert not tmp.exists()


def test_an_interrupt_also_removes_the_tmp(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".out.tmp"

    def interrupted(fh: BinaryIO) -> None:
        fh.write(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_durably(final, tmp, interrupted)
    assert not final.exists() and not tmp.exists()


def test_mode_applies_whatever_the_umask(tmp_path: Path) -> None:
    final, tmp = tmp_path / "secret.yaml", tmp_path / ".secret.yaml.tmp"
    old = os.umask(0)  # a umask that would leave the file world-readable
    try:
        write_durably(final, tmp, lambda fh: fh.write(b"pw"), mode=0o600)
    finally:
        os.umask(old)
    assert mode_of(final) == 0o600


def test_mode_applies_to_a_leftover_tmp_of_another_mode(tmp_path: Path) -> None:
    final, tmp = tmp_path / "secret.yaml", tmp_path / ".secret.yaml.tmp"
    tmp.write_bytes(b"stale leftover of a crash")
    tmp.chmod(0o644)
    write_durably(final, tmp, lambda fh: fh.write(b"pw"), mode=0o600)
    assert mode_of(final) == 0o600 and final.read_bytes() == b"pw"  # truncated, not appended


def test_without_mode_the_umask_decides(tmp_path: Path) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".out.tmp"
    old = os.umask(0o022)
    try:
        write_durably(final, tmp, lambda fh: fh.write(b"x"))
    finally:
        os.umask(old)
    assert mode_of(final) == 0o644


def test_syncs_the_file_and_then_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final, tmp = tmp_path / "out", tmp_path / ".out.tmp"
    synced: list[tuple[str, bool]] = []  # (what the fd is, whether the final name existed then)
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        synced.append((kind, final.exists()))
        real_fsync(fd)

    monkeypatch.setattr(durable.os, "fsync", spy)
    write_durably(final, tmp, lambda fh: fh.write(b"x"))
    # the data is on disk before the rename; the folder (the rename) after it
    assert synced == [("file", False), ("dir", True)]
