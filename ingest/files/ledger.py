"""The ledger of ingested files, kept in the landing zone (ingestors never open the warehouse).

One small JSON file per ingested file, named by the SHA-256 of its (decompressed) content:
`<landing>/files_ledger/<sha[:2]>/<sha>.json`. It is written only after the file's readings are
durable, atomically (temporary name, fsync, rename), so a file is either recorded or not. A
crash between the readings and the ledger entry means the file is ingested again; the loader
collapses the identical readings, so nothing is doubled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from core.landing import TMP_PREFIX, LandingZone

LEDGER_DIR = "files_ledger"


class FileLedger:
    def __init__(self, landing: LandingZone):
        self.landing = landing

    def _path(self, sha256: str) -> str:
        return f"{self.landing.base}/{LEDGER_DIR}/{sha256[:2]}/{sha256}.json"

    def get(self, sha256: str) -> dict[str, Any] | None:
        path = self._path(sha256)
        if self.landing.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.landing.fs.open_input_stream(path) as fh:
            return json.loads(fh.read().decode("utf-8"))

    def forget(self, sha256: str) -> None:
        """Remove a file's entry (it changed after it was recorded: its content is to be taken again)."""
        path = self._path(sha256)
        if self.landing.fs.get_file_info(path).type == pafs.FileType.File:
            self.landing.fs.delete_file(path)

    def record(self, sha256: str, entry: dict[str, Any]) -> None:
        data = json.dumps({"sha256": sha256, **entry}, ensure_ascii=False, indent=1, default=str).encode("utf-8")
        path = self._path(sha256)
        if not self.landing.local:  # a single PUT is atomic on an object store
            self.landing.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            with self.landing.fs.open_output_stream(path) as out:
                out.write(data)
            return
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f"{TMP_PREFIX}{final.name}")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
