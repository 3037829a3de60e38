"""What follows a job's change, for tests: `RecordedEffects` end or settle jobs in-process
(events and metrics go to the real Redis; what would be enqueued or settled is recorded),
and `EffectsProbe` observes every effect from the outside."""

from __future__ import annotations

import ast
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.client import PubSub

from app.core.celery_app import DELIVER_WEBHOOK_TASK, MAINTENANCE_QUEUE
from app.core.text import as_text
from app.downloads.endings import JobEffects
from app.jobs.events import ProgressEvent, decode, events_channel
from app.jobs.models import JobStatus
from app.metrics.definitions import COUNTERS, JOB_DURATION
from app.metrics.store import counter_key, histogram_key


@dataclass
class RecordedEffects:
    redis_url: str
    work_dir: Path
    enqueued: list[uuid.UUID] = field(default_factory=list)
    settled: list[uuid.UUID] = field(default_factory=list)

    def effects(self) -> JobEffects:
        return JobEffects(
            redis=redis.Redis.from_url(self.redis_url),
            enqueue=lambda job_id, _countdown, _priority: self.enqueued.append(job_id),
            settle_parent=self.settled.append,
            work_dir=self.work_dir,
        )


class EffectsProbe:
    """Watches what follows jobs' changes, from the outside: terminal status events on each
    job's own channel, the metrics in Redis and the webhook messages in the broker.

    Start it before acting; `observe()` then returns what happened since.
    """

    def __init__(self, redis_url: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.pubsub = PubSub(self.client.connection_pool)
        self.pubsub.psubscribe(events_channel_pattern())
        self._wait_for(lambda message: message["type"] == "psubscribe")
        self.metrics_before = self._metrics()
        self.webhooks_before = self._webhook_messages()

    def observe(self) -> Observed:
        # Our own message on the same pattern comes after everything published before it.
        sentinel = f"yds:job:{uuid.uuid4()}:events"
        self.client.publish(sentinel, "end")
        events: list[ProgressEvent] = []

        def collect(message: dict[str, Any]) -> bool:
            if message["type"] != "pmessage":
                return False
            if message["channel"].decode() == sentinel:
                return True
            event = decode(message["data"])
            if message["channel"].decode() == events_channel(event.job_id):
                events.append(event)  # a child's copy on its parent's channel is skipped
            return False

        self._wait_for(collect)
        after = self._metrics()
        metrics = {name: after[name] - self.metrics_before.get(name, 0) for name in after}
        webhooks = self._webhook_messages() - self.webhooks_before
        return Observed(events, {k: v for k, v in metrics.items() if v}, webhooks)

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()

    def _wait_for(self, done: Callable[[dict[str, Any]], bool], within: float = 30) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=deadline - time.monotonic())
            if message is not None and done(message):
                return
        raise TimeoutError("the probe's own message never came back")

    def _metrics(self) -> dict[str, float]:
        found: dict[str, float] = defaultdict(float)
        for series in (*COUNTERS, JOB_DURATION):
            key = counter_key(series.name) if series in COUNTERS else histogram_key(series.name)
            for raw_field, value in self.client.hgetall(key).items():
                field_name = as_text(raw_field)
                if series is JOB_DURATION and not field_name.endswith("|count"):
                    continue
                found[f"{series.name}{field_name.removesuffix('|count')}"] += float(value)
        return found

    def _webhook_messages(self) -> Counter[uuid.UUID]:
        """Webhook deliveries waiting in the broker, by job (no worker consumes them here)."""
        found: Counter[uuid.UUID] = Counter()
        for raw in self.client.lrange(MAINTENANCE_QUEUE, 0, -1):
            headers = json.loads(raw)["headers"]
            if headers["task"] == DELIVER_WEBHOOK_TASK:
                found[uuid.UUID(ast.literal_eval(headers["argsrepr"])[0])] += 1
        return found


@dataclass
class Observed:
    events: list[ProgressEvent]
    metrics: dict[str, float]
    webhooks: Counter[uuid.UUID]

    def endings(self, job_id: uuid.UUID) -> list[JobStatus]:
        """The terminal status events of the job, in order."""
        return [e.status for e in self.events if e.job_id == job_id and e.status.is_terminal]


def events_channel_pattern() -> str:
    return "yds:job:*:events"
