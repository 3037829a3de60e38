"""Key usage gathered in Redis by the API processes (`app.api.usage`), moved onto the key
rows by housekeeping and shown in key listings before that."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping

import redis
import redis.asyncio
from sqlalchemy.orm import Session, sessionmaker

from app.api.usage import USAGE_KEY
from app.auth import repository
from app.core.database import session_scope
from app.core.text import as_text

logger = logging.getLogger(__name__)


def _parse(raw: Mapping[bytes | str, bytes | str]) -> dict[uuid.UUID, tuple[int, dt.datetime]]:
    counts: dict[uuid.UUID, int] = {}
    last: dict[uuid.UUID, dt.datetime] = {}
    for field, value in raw.items():
        key_id, _, part = as_text(field).partition(":")
        if part == "count":
            counts[uuid.UUID(key_id)] = int(as_text(value))
        else:
            last[uuid.UUID(key_id)] = dt.datetime.fromtimestamp(float(as_text(value)), dt.UTC)
    return {key_id: (count, last[key_id]) for key_id, count in counts.items() if key_id in last}


def sync_usage(client: redis.Redis, sessions: sessionmaker[Session]) -> int:
    """Move the counts gathered in Redis onto the key rows; returns how many keys."""
    claimed = f"{USAGE_KEY}:syncing:{uuid.uuid4().hex}"
    try:
        client.rename(USAGE_KEY, claimed)  # atomic: new requests count into a fresh hash
    except redis.ResponseError:
        return 0  # nothing counted since the last sync
    usage = _parse(client.hgetall(claimed))
    with session_scope(sessions) as session:
        for key_id, (count, last_used) in usage.items():
            repository.add_usage(session, key_id, count=count, last_used=last_used)
    client.delete(claimed)
    return len(usage)


async def pending_usage(client: redis.asyncio.Redis) -> dict[uuid.UUID, tuple[int, dt.datetime]]:
    """Counts not yet moved to the rows (for an up-to-date key listing)."""
    try:
        return _parse(await client.hgetall(USAGE_KEY))
    except redis.RedisError:
        return {}
