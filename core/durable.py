"""Writing a file so that it is whole or absent, and survives a power cut once written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_durably(
    final: Path, tmp: Path, write: Callable[[BinaryIO], None], mode: int | None = None
) -> None:
    """`write` into `tmp` (same folder), fsync, rename over `final`, fsync the folder.

    Readers see the old file or the new one, never a part; after return the new one is on disk.
    `mode` (e.g. 0o600 for a file holding secrets) applies from the file's creation on.
    """
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
        if mode is not None:
            os.fchmod(fd, mode)  # whatever the umask, and a leftover tmp of another mode
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
