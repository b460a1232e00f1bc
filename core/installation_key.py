"""The installation's secret key, and the keyed hash of logger passwords made with it.

Logger passwords (HJ 212 `PW`) are never stored in clear by envmon: the warehouse keeps
`outlets.logger_password_hmac` = HMAC-SHA256(key, MN NUL password), so two loggers with the same
password get different hashes and a copy of the warehouse alone does not allow an offline
guess of 6-digit passwords (the key is not in it). The key is 32 random bytes (hex) in
`<ENVMON_HOME>/secrets/installation.key`, mode 0600, created on first use (written to a temporary
file, synced, then linked into place: a concurrent first use never sees an empty or partial key);
it is never logged.

Losing it (or its ENVMON_HOME) makes a new key on next use. Then the stored hashes no longer
match: `outlets.logger_password_hmac` stays as it was until the registry is stored again, and
`envmon registry load` skips an unchanged configuration (warehouse/registry/store.py) — edit the
registry, or clear the column (`UPDATE outlets SET logger_password_hmac = NULL`) and load again;
the `[pw hmac-sha256:...]` notes of unknown-MN dead letters were made with the old key, so
`envmon deadletters retry` cannot check their passwords any more (they stay waiting). The server
itself hashes the registry's passwords with the key at start and is not affected.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_FILE = Path("secrets") / "installation.key"
HASH_PREFIX = "hmac-sha256:"


def key_path(home: Path) -> Path:
    return Path(home) / KEY_FILE


def installation_key(home: Path) -> bytes:
    """The key of the installation at `home`, created (0600, atomically) when missing."""
    path = key_path(home)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    # the whole key is written and synced under a private name, then linked into place: the
    # key file never exists empty or half-written (a concurrent first use reads a whole key)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked its key first
            os.link(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ValueError(f"{path}: not an envmon installation key (64 hex digits expected)")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # tighten a key file whose mode was loosened
    return key


def password_hmac(key: bytes, mn: str, password: str) -> str:
    """'hmac-sha256:<hex>' of the logger `mn`'s password (bound to the MN)."""
    digest = hmac.new(key, mn.encode("utf-8") + b"\0" + password.encode("utf-8"), hashlib.sha256)
    return HASH_PREFIX + digest.hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))
