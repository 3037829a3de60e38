"""What the broker holds: which task ids sit in a queue or are reserved by a worker.

Lets the reconciler tell a job that waits its turn from one whose message was lost (a Redis
flush or restart). Only a Redis broker can be inspected; with SQS the answer is None.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

import redis

logger = logging.getLogger(__name__)

# Where kombu's Redis transport keeps messages delivered to a worker but not yet acked.
UNACKED_HASH = "unacked"


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
    if not broker_url.startswith(("redis://", "rediss://", "unix://")):
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
