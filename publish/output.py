"""The output root of a publication: a local folder, a file:// URL or an object store (s3://).

Every file is written under a temporary name and renamed, so a reader sees the old file or the
new one, never half of one. Relative names are checked segment by segment: only plain names
of letters, digits, '.', '_' and '-' (no '..', no absolute paths, no backslashes), so no name
from data can escape the root.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from core.durable import write_durably
from core.errors import EnvmonError

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
TMP_PREFIX = ".tmp-"


class UnsafePathError(EnvmonError):
    """A publication file name that could escape the output root."""


def safe_relpath(relpath: str) -> str:
    """`relpath` if it is a plain relative name inside the root, else UnsafePathError."""
    if not isinstance(relpath, str) or not relpath:
        raise UnsafePathError(f"output name {relpath!r}: empty")
    if "\\" in relpath or "\x00" in relpath or relpath.startswith("/"):
        raise UnsafePathError(
            f"output name {relpath!r}: must be a relative name with '/' separators"
        )
    for segment in relpath.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment) or ".." in segment:
            raise UnsafePathError(
                f"output name {relpath!r}: segment {segment!r} is not a plain name "
                "(letters, digits, '.', '_', '-'; no '..')"
            )
    return relpath


@dataclass
class OutputRoot:
    """Writes files under one root; records which it wrote and which changed."""

    root: str
    written: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        root = str(self.root)
        if "://" in root and not root.startswith("file://"):
            self.fs, base = pafs.FileSystem.from_uri(root)
            self.base = base.rstrip("/")
            self.local = False
        else:
            self.fs = pafs.LocalFileSystem()
            self.base = str(Path(root.removeprefix("file://")).absolute())
            self.local = True

    def location(self, relpath: str) -> str:
        """Where `relpath` lands (a local path, or the store's path)."""
        return f"{self.base}/{safe_relpath(relpath)}"

    def read(self, relpath: str) -> bytes | None:
        path = self.location(relpath)
        try:
            with self.fs.open_input_stream(path) as fh:
                return fh.read()
        except (FileNotFoundError, OSError):
            return None

    def names(self, folder: str) -> list[str]:
        """Relative names of the files under `folder` (sorted; temporary files left out)."""
        selector = pafs.FileSelector(self.location(folder), recursive=True, allow_not_found=True)
        out = []
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(self.base) + 1 :] if info.path.startswith(self.base + "/") else None
            if rel is None:  # some stores report paths without the leading '/'
                rel = info.path[len(self.base.lstrip("/")) + 1 :]
            if not rel.rsplit("/", 1)[-1].startswith(TMP_PREFIX):
                out.append(rel)
        return sorted(out)

    def write(self, relpath: str, data: bytes) -> None:
        """Write `data` to `relpath` atomically; an identical file is left untouched."""
        path = self.location(relpath)
        self.written.append(relpath)
        if self.read(relpath) == data:
            return
        self.changed.append(relpath)
        if self.local:
            self._write_local(Path(path), data)
        else:
            parent, name = path.rsplit("/", 1)
            self.fs.create_dir(parent, recursive=True)
            tmp = f"{parent}/{TMP_PREFIX}{name}"
            with self.fs.open_output_stream(tmp) as out:
                out.write(data)
            self.fs.move(tmp, path)

    def _write_local(self, final: Path, data: bytes) -> None:
        directory = final.parent
        directory.mkdir(parents=True, exist_ok=True)
        # a symlinked folder inside the root could still point outside it
        real_root = Path(self.base).resolve()
        if not directory.resolve().is_relative_to(real_root):
            raise UnsafePathError(f"{final}: resolves outside the output root {real_root}")
        write_durably(
            final, directory / f"{TMP_PREFIX}{final.name}.{os.getpid()}", lambda fh: fh.write(data)
        )
