"""The installation's secret key, and the keyed hash of logger passwords made with it.

Logger passwords (HJ 212 `PW`) are never stored in clear by envmon: the warehouse keeps
`outlets.logger_password_hmac` = HMAC-SHA256(key, MN NUL password), so two loggers with the same
password get different hashes and a copy of the warehouse alone does not allow an offline
guess of 6-digit passwords (the key is not in it). The key is 32 random bytes (hex) in
`<ENVMON_HOME>/secrets/installation.key`, mode 0600, created on first use; it is never logged.
Losing it only means the hashes are written again on the next `envmon registry load`.
"""

from __future__ import annotations

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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it meanwhile: use theirs
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
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
