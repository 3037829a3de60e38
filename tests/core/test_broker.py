"""Task messages the API publishes itself on its asyncio Redis client: the same message
Celery's `send_task` publishes, so a real worker runs them."""

from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any

import redis
import redis.asyncio

from app.core.broker import RedisTaskSender
from app.core.celery_app import RUN_DOWNLOAD_TASK, celery_app

# Differ between any two messages, or between two senders.
VOLATILE_HEADERS = {"origin"}
VOLATILE_PROPERTIES = {"delivery_tag", "reply_to"}


def comparable(raw: bytes | str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    for name in VOLATILE_HEADERS:
        assert message["headers"].pop(name)
    for name in VOLATILE_PROPERTIES:
        assert message["properties"].pop(name)
    return message


async def test_the_message_is_the_one_celery_sends() -> None:
    redis_url = os.environ["REDIS_URL"]
    queue = f"test-queue-{uuid.uuid4().hex}"
    task_id = str(uuid.uuid4())
    celery_app.send_task(RUN_DOWNLOAD_TASK, args=[task_id], task_id=task_id, queue=queue)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        await RedisTaskSender(client).send(
            RUN_DOWNLOAD_TASK, [task_id], queue=queue, task_id=task_id
        )
    finally:
        await client.aclose()
    sync = redis.Redis.from_url(redis_url)
    try:
        ours, celerys = sync.lrange(queue, 0, -1)  # LPUSH: the newest first
        sync.delete(queue)
    finally:
        sync.close()
    assert comparable(ours) == comparable(celerys)
