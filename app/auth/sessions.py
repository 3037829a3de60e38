"""Browser sessions: an API key exchanged once for an HttpOnly cookie.

The web UI signs in by posting a key; the API answers with a random session token in an
HttpOnly, SameSite=Strict cookie and keeps, in Redis under a digest of the token, only the
key's id and the session's CSRF token. The key itself is never stored, and the token in
Redis is never the one in the cookie, so a read of Redis opens no session. A request
authenticated by the cookie that changes anything must repeat the CSRF token in a header
(`X-CSRF-Token`), which only a page of our own origin can read. Sign-out deletes the
record; a revoked or expired key ends its sessions at their next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass

from redis.asyncio import Redis

COOKIE_NAME = "yds_session"
CSRF_HEADER = "X-CSRF-Token"
# Methods that change nothing need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_KEY = "yds:ui-session:{}"
_TOKEN_BYTES = 32


@dataclass(frozen=True)
class BrowserSession:
    token: str
    api_key_id: uuid.UUID
    csrf_token: str


def _record_key(token: str) -> str:
    return _KEY.format(hashlib.sha256(token.encode()).hexdigest())


async def open_session(redis: Redis, api_key_id: uuid.UUID, *, ttl_seconds: int) -> BrowserSession:
    session = BrowserSession(
        token=secrets.token_urlsafe(_TOKEN_BYTES),
        api_key_id=api_key_id,
        csrf_token=secrets.token_urlsafe(_TOKEN_BYTES),
    )
    record = json.dumps({"key": str(api_key_id), "csrf": session.csrf_token})
    await redis.set(_record_key(session.token), record, ex=ttl_seconds)
    return session


async def find_session(redis: Redis, token: str, *, ttl_seconds: int) -> BrowserSession | None:
    """The session the cookie names, its lifetime renewed (sliding), or None."""
    if not token or len(token) > 128:
        return None
    raw = await redis.getex(_record_key(token), ex=ttl_seconds)
    if raw is None:
        return None
    record = json.loads(raw)
    return BrowserSession(
        token=token, api_key_id=uuid.UUID(record["key"]), csrf_token=record["csrf"]
    )


async def close_session(redis: Redis, token: str) -> None:
    if token and len(token) <= 128:
        await redis.delete(_record_key(token))


def csrf_matches(session: BrowserSession, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(
        presented.encode(), session.csrf_token.encode()
    )
