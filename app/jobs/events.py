"""Publishing job events to Redis pub/sub plus a "latest" key (rule 5)."""

from __future__ import annotations

import logging

import redis
import redis.asyncio

from app.progress.channels import LATEST_TTL_SECONDS, encode, events_channel, latest_key
from app.progress.schemas import ProgressEvent

logger = logging.getLogger(__name__)


def publish(client: redis.Redis, event: ProgressEvent) -> None:
    """Best effort: events are notifications; the job row stays the truth if Redis is down."""
    payload = encode(event)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.set(latest_key(event.job_id), payload, ex=LATEST_TTL_SECONDS)
        pipe.publish(events_channel(event.job_id), payload)
        if event.parent_id is not None:
            # A playlist's stream carries its children's events too.
            pipe.publish(events_channel(event.parent_id), payload)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not publish job event: %s", exc)


async def publish_async(client: redis.asyncio.Redis, event: ProgressEvent) -> None:
    payload = encode(event)
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(latest_key(event.job_id), payload, ex=LATEST_TTL_SECONDS)
            pipe.publish(events_channel(event.job_id), payload)
            if event.parent_id is not None:
                pipe.publish(events_channel(event.parent_id), payload)
            await pipe.execute()
    except redis.RedisError as exc:
        logger.warning("could not publish job event: %s", exc)
