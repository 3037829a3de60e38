"""API keys: issued once, stored as an HMAC, found by prefix, compared in constant time."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.auth import keys, repository
from app.auth.exceptions import (
    ApiKeyExpired,
    ApiKeyNotFound,
    ApiKeyRevoked,
    ExpiryNotInFuture,
    InvalidApiKey,
)
from app.auth.models import ApiKey, Scope
from app.core.database import utcnow

logger = logging.getLogger(__name__)

ADMIN_SCOPES = [scope.value for scope in Scope]
DEFAULT_SCOPES = [Scope.DOWNLOADS_READ.value, Scope.DOWNLOADS_WRITE.value]


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


@dataclass(frozen=True)
class KeyLimits:
    rate_limit_per_minute: int | None = None
    max_active_jobs: int | None = None
    max_jobs_per_day: int | None = None


def issue_key(
    session: Session,
    *,
    name: str,
    server_secret: bytes,
    scopes: Sequence[str] | None = None,
    expires_at: dt.datetime | None = None,
    limits: KeyLimits = KeyLimits(),
    webhook_url: str | None = None,
) -> IssuedKey:
    if expires_at is not None and expires_at <= utcnow():
        raise ExpiryNotInFuture()
    secret = keys.generate()
    api_key = repository.insert(
        session,
        name=name,
        key_prefix=keys.lookup_prefix(secret),
        key_hash=keys.digest(secret, server_secret),
        scopes=list(scopes or DEFAULT_SCOPES),
        expires_at=expires_at,
        rate_limit_per_minute=limits.rate_limit_per_minute,
        max_active_jobs=limits.max_active_jobs,
        max_jobs_per_day=limits.max_jobs_per_day,
        webhook_url=webhook_url,
    )
    return IssuedKey(api_key=api_key, secret=secret)


def authenticate(session: Session, secret: str, server_secret: bytes) -> ApiKey:
    """The key's row, or an error saying why it does not open the door."""
    if secret.startswith(keys.PREFIX) and not keys.well_formed(secret):
        raise InvalidApiKey()  # a typo or a guess: no database query
    found = next(
        (
            candidate
            for candidate in repository.by_prefix(session, keys.lookup_prefix(secret))
            if keys.matches(secret, candidate.key_hash, server_secret)
        ),
        None,
    )
    if found is None:
        raise InvalidApiKey()
    return still_valid(found)


def still_valid(api_key: ApiKey) -> ApiKey:
    """The key, unless revoked or expired by now (also checked on a cached row)."""
    if api_key.revoked_at is not None:
        raise ApiKeyRevoked()
    if api_key.is_expired(utcnow()):
        raise ApiKeyExpired()
    return api_key


def check_bootstrap_key(secret: str) -> None:
    """Refuse a key no request could use: a `yds_` string is taken for a generated key, and
    one whose checksum does not hold is turned away before any lookup (`authenticate`)."""
    if secret.startswith(keys.PREFIX) and not keys.well_formed(secret):
        raise ValueError(
            f"BOOTSTRAP_ADMIN_API_KEY starts with {keys.PREFIX!r} but is not a key this service "
            "generated (wrong length or checksum), so every request with it would be refused; "
            "use one from `yds api-keys generate`, or a custom key not starting with "
            f"{keys.PREFIX!r}"
        )


def ensure_bootstrap_key(session: Session, secret: str, server_secret: bytes) -> bool:
    """Create the admin key from BOOTSTRAP_ADMIN_API_KEY once; True when it was created now."""
    check_bootstrap_key(secret)
    key_hash = keys.digest(secret, server_secret)
    if repository.exists_with_hash(session, key_hash):
        return False
    try:
        with session.begin_nested():
            repository.insert(
                session,
                name="bootstrap-admin",
                key_prefix=keys.lookup_prefix(secret),
                key_hash=key_hash,
                scopes=ADMIN_SCOPES,
            )
    except IntegrityError:
        return False  # another API process created it at the same moment
    logger.info("created the bootstrap admin API key")
    return True


def list_keys(session: Session) -> Sequence[ApiKey]:
    return repository.list_all(session)


def set_webhook_url(session: Session, key_id: uuid.UUID, url: str | None) -> ApiKey:
    api_key = repository.set_webhook_url(session, key_id, url)
    if api_key is None:
        raise ApiKeyNotFound()
    return api_key


def revoke_key(session: Session, key_id: uuid.UUID) -> ApiKey:
    api_key = repository.by_id(session, key_id)
    if api_key is None:
        raise ApiKeyNotFound()
    repository.revoke(session, key_id, utcnow())
    session.refresh(api_key)
    return api_key
