"""API keys: generated once, stored only as a SHA-256 digest, looked up by that digest."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import repository
from app.auth.models import ApiKey

logger = logging.getLogger(__name__)

KEY_PREFIX = "yds_"
ADMIN_SCOPES = ["admin", "downloads:read", "downloads:write"]
DEFAULT_SCOPES = ["downloads:read", "downloads:write"]


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _display_prefix(secret: str) -> str:
    return secret[: len(KEY_PREFIX) + 6]


def issue_key(session: Session, *, name: str, scopes: list[str] | None = None) -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = repository.insert(
        session,
        name=name,
        key_prefix=_display_prefix(secret),
        key_hash=hash_key(secret),
        scopes=scopes or DEFAULT_SCOPES,
    )
    return IssuedKey(api_key=api_key, secret=secret)


def authenticate(session: Session, secret: str) -> ApiKey | None:
    # The digest is the lookup key, so no plaintext ever reaches the database and a
    # timing difference could only leak bits of a SHA-256 digest, not of the key.
    return repository.get_active_by_hash(session, hash_key(secret))


def ensure_bootstrap_key(session: Session, secret: str) -> bool:
    """Create the admin key from BOOTSTRAP_ADMIN_API_KEY once; True when it was created now."""
    key_hash = hash_key(secret)
    if repository.exists_with_hash(session, key_hash):
        return False
    try:
        with session.begin_nested():
            repository.insert(
                session,
                name="bootstrap-admin",
                key_prefix=_display_prefix(secret),
                key_hash=key_hash,
                scopes=ADMIN_SCOPES,
            )
    except IntegrityError:
        # Another API process created it at the same moment.
        return False
    logger.info("created the bootstrap admin API key")
    return True
