"""Webhook secrets and signatures.

Each API key has its own webhook secret, derived from the server secret and the key's id, so
nothing new is stored and rotating API_KEY_SECRET rotates every webhook secret with it.
A delivery is signed as ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``;
the timestamp inside the MAC lets receivers refuse replays of old deliveries.
"""

from __future__ import annotations

import hmac
import uuid
from hashlib import sha256

SIGNATURE_HEADER = "X-YDS-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret


def webhook_secret(server_secret: bytes, api_key_id: uuid.UUID) -> str:
    """The key's webhook secret, ``whsec_<hex>``; receivers use the whole string as HMAC key."""
    derived = hmac.new(server_secret, f"webhook:{api_key_id}".encode(), sha256).hexdigest()
    return f"{SECRET_PREFIX}{derived}"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The X-YDS-Signature value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
