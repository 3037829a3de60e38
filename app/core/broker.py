"""What the broker holds: which task ids sit in a queue or are reserved by a worker.

Lets the reconciler tell a job that waits its turn from one whose message was lost (a Redis
flush or restart). Only a Redis broker can be inspected; with SQS the answer is None.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio

from app.core import tracing

logger = logging.getLogger(__name__)

# Where kombu's Redis transport keeps messages delivered to a worker but not yet acked.
UNACKED_HASH = "unacked"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# Who sent a message, as Celery names it (shown by `celery inspect` and in worker logs).
ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"
REPLY_TO = str(uuid.uuid4())  # no reply is read (results are ignored), but Celery sets one


def _ids(payloads: Iterable[bytes | str]) -> set[str]:
    found = set()
    for payload in payloads:
        try:
            message = json.loads(payload)
        except ValueError:
            continue
        if isinstance(message, list):  # unacked entries are [message, exchange, routing key]
            message = message[0]
        task_id = message.get("headers", {}).get("id") if isinstance(message, dict) else None
        if task_id:
            found.add(str(task_id))
    return found


def pending_task_ids(broker_url: str, queue: str) -> set[str] | None:
    if not is_redis_url(broker_url):
        return None
    client = redis.Redis.from_url(broker_url, socket_timeout=5, socket_connect_timeout=3)
    try:
        found = set()
        # The queue's list, plus the lists kombu adds for message priorities.
        for key in client.scan_iter(match=f"{queue}*", _type="list"):
            found |= _ids(client.lrange(key, 0, -1))
        found |= _ids(client.hvals(UNACKED_HASH))
        return found
    except redis.RedisError as exc:
        logger.warning("could not inspect the broker: %s", exc)
        return None
    finally:
        client.close()


def task_message(
    task: str,
    args: list[Any],
    *,
    queue: str,
    task_id: str | None = None,
    trace_headers: dict[str, str] | None = None,
) -> str:
    """A Celery task message (protocol 2, JSON) as kombu's Redis transport stores it in a
    queue's list: what `send_task` would publish, built without Celery's machinery.
    `trace_headers` (W3C trace context) go among the message's headers, where Celery's
    instrumentation puts its own: the worker reads them as the task's request fields."""
    task_id = task_id or str(uuid.uuid4())
    body = json.dumps([args, {}, {"callbacks": None, "errbacks": None, "chain": None,
                                  "chord": None}])  # fmt: skip
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
        "origin": ORIGIN,
        "ignore_result": None,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
        **(trace_headers or {}),
    }
    properties = {
        "correlation_id": task_id,
        "reply_to": REPLY_TO,
        "delivery_mode": 2,
        "delivery_info": {"exchange": "", "routing_key": queue},
        "priority": 0,
        "body_encoding": "base64",
        "delivery_tag": str(uuid.uuid4()),
    }
    return json.dumps(
        {
            "body": base64.b64encode(body.encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }
    )


class RedisTaskSender:
    """Publishes task messages on an asyncio Redis client, one LPUSH each (kombu's Redis
    transport: a queue is a list the workers BRPOP), so the API sends without a thread."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def send(
        self, task: str, args: list[Any], *, queue: str, task_id: str | None = None
    ) -> None:
        task_id = task_id or str(uuid.uuid4())
        with tracing.publishing(task, task_id) as trace_headers:
            message = task_message(
                task, args, queue=queue, task_id=task_id, trace_headers=trace_headers
            )
            await self.client.lpush(queue, message)


def is_redis_url(url: str) -> bool:
    return url.startswith(REDIS_SCHEMES)
