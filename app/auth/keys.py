"""The key format and its storage form.

Keys look like `yds_` + 30 random base62 characters + a 6-character CRC32 checksum, so
secret scanners can recognise them and typos are rejected without a database query.
Only `HMAC-SHA256(server secret, key)` and the first 12 characters are stored.
"""

from __future__ import annotations

import hmac
import os
import secrets
import string
import zlib
from hashlib import sha256
from pathlib import Path

from app.core.config import Settings

PREFIX = "yds_"
BODY_LENGTH = 30
CHECKSUM_LENGTH = 6
LOOKUP_LENGTH = 12
_BASE62 = string.digits + string.ascii_letters


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def generate() -> str:
    body = "".join(secrets.choice(_BASE62) for _ in range(BODY_LENGTH))
    return f"{PREFIX}{body}{checksum(body)}"


def well_formed(key: str) -> bool:
    """A `yds_` key with a valid checksum (other strings are custom bootstrap keys)."""
    if len(key) != len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH or not key.startswith(PREFIX):
        return False
    body, check = key[len(PREFIX) : -CHECKSUM_LENGTH], key[-CHECKSUM_LENGTH:]
    return all(ch in _BASE62 for ch in body) and hmac.compare_digest(checksum(body), check)


def lookup_prefix(key: str) -> str:
    return key[:LOOKUP_LENGTH]


def digest(key: str, server_secret: bytes) -> str:
    return hmac.new(server_secret, key.encode(), sha256).hexdigest()


def matches(key: str, stored_digest: str, server_secret: bytes) -> bool:
    return hmac.compare_digest(digest(key, server_secret), stored_digest)


def load_server_secret(settings: Settings) -> bytes:
    """API_KEY_SECRET, or locally a random secret kept in API_KEY_SECRET_FILE (mode 0600)."""
    configured = settings.api_key_secret.get_secret_value()
    if configured:
        return configured.encode()
    path = Path(settings.api_key_secret_file)
    if path.exists():
        return path.read_text().strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        # A hard link appears complete or not at all: when the API and a worker start
        # together, one secret wins and both read it.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip().encode()
