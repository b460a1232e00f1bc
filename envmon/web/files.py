"""Case attachments on disk and on the wire (docs/console.md, "Attachments").

- What a file is, is read from its first bytes (JPEG, PNG, WebP, PDF), never from its name or the
  type the browser sends; anything else is refused (415).
- An upload is read from the request as it arrives, counted, hashed (SHA-256) and written to a
  temporary file under the home; past `web_upload_max_bytes` reading stops and it is refused
  (413) — never held whole in memory, never read without bound.
- The file is stored once per content, by its hash: <home>/attachments/<sha256[:2]>/<sha256>,
  written whole or not at all (fsync, rename, fsync of the folder). The name it was uploaded with
  is display text only (folders, control and direction characters removed), never part of a path.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from alerts.cases import actor_label

SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The types accepted, by their first bytes; the file's extension when downloaded.
EXTENSIONS = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
}
TYPE_LABELS = {
    "image/jpeg": "JPEG 图片 image",
    "image/png": "PNG 图片 image",
    "image/webp": "WebP 图片 image",
    "application/pdf": "PDF 文档 document",
}
SNIFF_BYTES = 12  # enough for every signature below
NAME_MAX = 120  # characters of a name kept for display
FIELD_MAX = 256  # bytes of a form's text field (csrf, action_id)
# Bytes of a request beyond its file: the text fields, each part's headers, the boundaries.
OVERHEAD = 16 * 1024
CHUNK_FLUSH = 256 * 1024  # file bytes gathered before they are written (in a worker thread)


def sniff(head: bytes) -> str | None:
    """The media type of a file from its first bytes, if it is one accepted; else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def safe_name(raw: str) -> str:
    """The uploaded name as display text: its last path part only (no folder of either kind of
    slash), without control, format (direction override) or unassigned characters, trimmed to
    NAME_MAX characters; "attachment" when nothing is left."""
    text = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))
    text = text.strip().lstrip(".").strip()
    if len(text) > NAME_MAX:
        stem, dot, ext = text.rpartition(".")
        text = (stem[: NAME_MAX - len(ext) - 1] + dot + ext) if dot and len(ext) <= 8 else text[:NAME_MAX]
    return text or "attachment"


def download_name(name: str, media_type: str) -> str:
    """The name a download is saved as: the display name, with the extension of what the file
    is (a JPEG uploaded as "report.exe" downloads as "report.exe.jpg")."""
    exts = EXTENSIONS.get(media_type, ())
    if exts and not name.lower().endswith(exts):
        return name + exts[0]
    return name


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266 / 5987)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


# ---------------------------------------------------------------------------- the store
def store_dir(home: Path | str) -> Path:
    return Path(home) / "attachments"


def stored_path(home: Path | str, sha256: str) -> Path:
    """Where the file of a hash is: built from the hash alone (checked hex), never from a name."""
    if not SHA256.match(sha256):
        raise ValueError(f"not a sha256: {sha256!r}")
    return store_dir(home) / sha256[:2] / sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def keep(home: Path | str, tmp: Path, sha256: str) -> bool:
    """Move a received, fsynced temporary file to its hash's place; True when it was new, False
    when that content was stored already (the temporary file is removed)."""
    final = stored_path(home, sha256)
    if final.is_file():
        tmp.unlink(missing_ok=True)
        return False
    final.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    _fsync_dir(final.parent.parent)
    return True


# ---------------------------------------------------------------------------- receiving
class UploadRefused(Exception):
    """An upload refused before it is stored: 400 (no file, a malformed form), 413 (too big),
    415 (not an accepted type). The message says why, in both languages."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Received:
    """A form read from the request: its text fields and, when one was sent, its file (in a
    temporary file, fsynced; the caller keeps it or removes it)."""

    fields: dict[str, str] = field(default_factory=dict)
    name: str = ""
    size: int = 0
    sha256: str = ""
    media_type: str = ""
    tmp: Path | None = None

    def discard(self) -> None:
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None


def too_big(limit: int) -> UploadRefused:
    return UploadRefused(413, f"文件超过 {size_text(limit)}，未保存。The file is larger than {size_text(limit)} "
                              f"({limit} bytes): nothing was stored. Send a smaller file (a photo at a lower "
                              "resolution, a PDF in parts).")


def not_accepted() -> UploadRefused:
    return UploadRefused(415, "只接受 JPEG、PNG、WebP 图片或 PDF 文件（按文件内容判断，而非文件名），未保存。"
                              "Only JPEG, PNG or WebP images and PDF documents are accepted (judged by the "
                              "file's content, not its name): nothing was stored.")


class _FormReader:
    """The callbacks of python-multipart's streaming parser: text fields kept (FIELD_MAX bytes
    each), the one file part counted, sniffed and hashed as it arrives; `on_field` sees each text
    field when it ends (the CSRF check, before the file is read when the form sends it first)."""

    def __init__(self, limit: int, tmp_dir: Path, on_field: Callable[[str, str], None]) -> None:
        self.limit, self.tmp_dir, self.on_field = limit, tmp_dir, on_field
        self.received = Received()
        self._hash = hashlib.sha256()
        self._head = bytearray()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._fh: Any = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._is_file = False
        self._in_file = False
        self._files = 0
        self._value = bytearray()

    # python-multipart callbacks
    def on_part_begin(self) -> None:
        self._disposition, self._name, self._is_file = b"", "", False
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in options and self._name == "file":
            self._files += 1
            if self._files > 1:
                raise UploadRefused(400, "一次上传一个文件 one file at a time: nothing was stored.")
            self._is_file = True
            self._in_file = True
            self.received.name = safe_name(options[b"filename"].decode("utf-8", "replace"))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            if len(self._value) + len(chunk) > FIELD_MAX:
                raise UploadRefused(400, f"表单字段 {self._name!r} 过长 a form field is too long: nothing was stored.")
            self._value += chunk
            return
        r = self.received
        r.size += len(chunk)
        if r.size > self.limit:
            raise too_big(self.limit)
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
        self._hash.update(chunk)
        self._pending.append(chunk)
        self._pending_size += len(chunk)

    def on_part_end(self) -> None:
        if self._is_file:
            self._in_file = False
            if self.received.size and not self.received.media_type:
                self._sniff()  # a file shorter than SNIFF_BYTES
        elif self._name:
            value = self._value.decode("utf-8", "replace")
            self.received.fields[self._name] = value
            self.on_field(self._name, value)

    def _sniff(self) -> None:
        media_type = sniff(bytes(self._head))
        if media_type is None:
            raise not_accepted()
        self.received.media_type = media_type

    def callbacks(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (
            "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
            "on_part_data", "on_part_end")}

    # writing, in a worker thread
    def _open(self) -> None:
        self.tmp_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        path = self.tmp_dir / f"upload-{secrets.token_hex(8)}.part"
        self._fh = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640), "wb")
        self.received.tmp = path

    def _write(self, data: bytes) -> None:
        if self._fh is None:
            self._open()
        self._fh.write(data)

    async def flush(self, force: bool = False) -> None:
        if self._pending and (force or self._pending_size >= CHUNK_FLUSH):
            data = b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            await run_in_threadpool(self._write, data)

    def _close(self, sync: bool) -> None:
        if self._fh is not None:
            if sync:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    async def finish(self) -> Received:
        await self.flush(force=True)
        await run_in_threadpool(self._close, True)
        self.received.sha256 = self._hash.hexdigest() if self.received.size else ""
        return self.received

    def abandon(self) -> None:
        self._close(False)
        self.received.discard()


async def receive(
    headers: Any,
    stream: AsyncIterator[bytes],
    *,
    limit: int,
    tmp_dir: Path,
    on_field: Callable[[str, str], None] = lambda name, value: None,
) -> Received:
    """Read a multipart form with at most one file (field "file") of at most `limit` bytes from
    `stream` as it arrives: UploadRefused (nothing kept) when it is too big — by its
    Content-Length before anything is read, or as soon as `limit` + 1 bytes of file (or of the
    whole request beyond OVERHEAD) have arrived — when it is no accepted type, or malformed.
    `on_field` may raise to stop reading (the CSRF check)."""
    content_type, params = parse_options_header(headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UploadRefused(400, "请选择文件后上传 choose a file and upload it (a multipart/form-data form): "
                                 "nothing was stored.")
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit + OVERHEAD:
        raise too_big(limit)
    reader = _FormReader(limit, tmp_dir, on_field)
    parser = MultipartParser(params[b"boundary"], reader.callbacks())  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > limit + OVERHEAD:
                raise too_big(limit)
            parser.write(chunk)
            await reader.flush()
        parser.finalize()
        return await reader.finish()
    except FormParserError as exc:
        reader.abandon()
        raise UploadRefused(400, "表单不完整或格式错误，未保存。The form arrived incomplete or malformed: nothing "
                                 "was stored. Send it again.") from exc
    except BaseException:
        reader.abandon()
        raise


# ---------------------------------------------------------------------------- listing
@dataclass(frozen=True)
class Attachment:
    case_id: str
    seq: int
    sha256: str
    name: str
    size: int
    media_type: str
    by_label: str
    attached_at: Any

    @property
    def url(self) -> str:
        return f"/cases/{quote(self.case_id, safe='')}/attachments/{self.sha256}"

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")

    @property
    def size_text(self) -> str:
        return size_text(self.size)

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.media_type, self.media_type)


def case_attachments(con: duckdb.DuckDBPyConnection, case_id: str) -> list[Attachment]:
    rows = con.execute(
        "SELECT a.case_id, a.seq, a.sha256, a.name, a.size_bytes, a.media_type, a.attached_by, p.name_zh, p.name_en, "
        "a.attached_at FROM case_attachments a LEFT JOIN v_people p ON p.person_id = a.attached_by "
        "WHERE a.case_id = ? ORDER BY a.seq",
        [case_id],
    ).fetchall()
    return [Attachment(cid, seq, sha, name, size, mt, actor_label(by, zh, en), at)
            for cid, seq, sha, name, size, mt, by, zh, en, at in rows]
