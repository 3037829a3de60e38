"""Signed, expiring links to one stored file, and feed tokens: what lets a podcast app
fetch a feed and its episodes without an API key.

A link is `HMAC-SHA256(link key, "<file id>:<expires>")`, URL-safe base64 without
padding. The link key is derived from the server secret API keys are HMACed with, so
links need no secret of their own, and a link can never pass for anything else signed
with that secret. The signature alone authorises that one file until it expires.

A feed token is 32 random bytes (URL-safe base64); only its SHA-256 is stored, so the
feed's URL is shown once, when the feed is enabled, and a database dump reveals none.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from app.subscriptions.exceptions import InvalidLink, LinkExpired

_LINK_KEY_LABEL = b"feed-links"
FEED_TOKEN_BYTES = 32
# Anything longer is no link of ours, and not worth hashing.
_MAX_SIGNATURE_LENGTH = 128
_MAX_EXPIRY_STEP_SECONDS = 3600


def link_key(server_secret: bytes) -> bytes:
    """The key links are signed with, derived from the server secret."""
    return hmac.new(server_secret, _LINK_KEY_LABEL, hashlib.sha256).digest()


def signature(key: bytes, file_id: uuid.UUID, expires: int) -> str:
    mac = hmac.new(key, f"{file_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(frozen=True)
class SignedLink:
    """The query of a link to one file: `?expires=<unix seconds>&sig=<signature>`."""

    file_id: uuid.UUID
    expires: int
    sig: str


def expiry(now: dt.datetime, ttl_seconds: int) -> int:
    """`now + ttl`, rounded down to a step of a tenth of the TTL (an hour at most): links
    signed within one step are the same, so a feed fetched again is the same document (and
    its ETag matches) until something in it changes. A link lives at least 0.9 TTL."""
    step = max(1, min(_MAX_EXPIRY_STEP_SECONDS, ttl_seconds // 10))
    return (int(now.timestamp()) + ttl_seconds) // step * step


def sign(key: bytes, file_id: uuid.UUID, *, ttl_seconds: int, now: dt.datetime) -> SignedLink:
    expires = expiry(now, ttl_seconds)
    return SignedLink(file_id=file_id, expires=expires, sig=signature(key, file_id, expires))


def verify(key: bytes, link: SignedLink, *, now: dt.datetime) -> None:
    """Raises InvalidLink unless this server signed exactly this file and expiry, then
    LinkExpired once the expiry has passed (checked second: only a genuine link learns
    that it expired)."""
    if len(link.sig) > _MAX_SIGNATURE_LENGTH:
        raise InvalidLink()
    expected = signature(key, link.file_id, link.expires)
    if not hmac.compare_digest(expected.encode(), link.sig.encode("utf-8", "replace")):
        raise InvalidLink()
    if link.expires <= now.timestamp():
        raise LinkExpired()


def new_feed_token() -> str:
    return secrets.token_urlsafe(FEED_TOKEN_BYTES)


def feed_token_digest(token: str) -> str:
    """What is stored of a feed token (hex SHA-256): enough to find the feed, not to forge
    its URL. A plain hash suffices: the token is 256 random bits, not a password."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
