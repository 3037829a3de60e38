"""Publishing numbers each event in its job's stream, keeps a bounded history and publishes
in that order, however many processes publish at once (real Redis)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.client import PubSub

from app.jobs import events
from app.jobs.events import ProgressEvent
from app.jobs.models import JobStage, JobStatus
from tests.support.constants import TEST_REDIS_DB
from tests.support.services import Services


def _progress(
    job_id: uuid.UUID, progress: float, parent_id: uuid.UUID | None = None
) -> ProgressEvent:
    return ProgressEvent(
        type="progress",
        job_id=job_id,
        parent_id=parent_id,
        status=JobStatus.PROCESSING,
        stage=JobStage.DOWNLOADING,
        progress=progress,
        at=dt.datetime.now(dt.UTC),
    )


@pytest.fixture
def client(services: Services) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(f"{services.redis_url}/{TEST_REDIS_DB}") as connection:
        yield connection


def _received(pubsub: PubSub, count: int) -> list[dict[str, object]]:
    messages: list[dict[str, object]] = []
    deadline = time.monotonic() + 10
    while len(messages) < count:
        assert time.monotonic() < deadline, f"only {len(messages)} of {count} messages arrived"
        message = pubsub.get_message(timeout=1)
        if message is not None and message["type"] == "message":
            messages.append(json.loads(message["data"]))
    return messages


def test_events_carry_seq_and_emitted_at_and_are_kept_in_a_bounded_history(
    client: redis.Redis,
) -> None:
    job_id = uuid.uuid4()
    pubsub = PubSub(client.connection_pool)
    pubsub.subscribe(events.events_channel(job_id))
    before = dt.datetime.now(dt.UTC)

    for n in range(events.HISTORY_EVENTS + 20):
        events.publish(client, _progress(job_id, n / 10))

    received = _received(pubsub, events.HISTORY_EVENTS + 20)
    assert [m["seq"] for m in received] == list(range(1, events.HISTORY_EVENTS + 21))
    stamps = [dt.datetime.fromisoformat(str(m["emitted_at"])) for m in received]
    assert stamps == sorted(stamps) and stamps[0] >= before
    assert all(stamp.utcoffset() == dt.timedelta(0) for stamp in stamps)
    history = [json.loads(raw) for raw in client.lrange(events.history_key(job_id), 0, -1)]
    assert [m["seq"] for m in history] == list(range(21, events.HISTORY_EVENTS + 21))
    assert history[-1] == received[-1], "the history keeps exactly what was published"
    assert 0 < client.ttl(events.history_key(job_id)) <= events.HISTORY_SECONDS
    pubsub.close()


def test_a_childs_event_is_numbered_in_its_parents_stream_too(client: redis.Redis) -> None:
    parent, child, sibling = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pubsub = PubSub(client.connection_pool)
    pubsub.subscribe(events.events_channel(parent))

    events.publish(client, _progress(child, 1, parent_id=parent))
    events.publish(client, _progress(sibling, 1, parent_id=parent))
    events.publish(client, _progress(child, 2, parent_id=parent))

    on_parent = _received(pubsub, 3)
    assert [(m["job_id"], m["seq"]) for m in on_parent] == [
        (str(child), 1), (str(sibling), 2), (str(child), 3)
    ]  # fmt: skip
    own = [json.loads(raw)["seq"] for raw in client.lrange(events.history_key(child), 0, -1)]
    assert own == [1, 2], "the child's own stream numbers its events apart"
    latest = json.loads(client.get(events.latest_key(child)) or b"{}")
    assert latest["seq"] == 2 and latest["progress"] == 2
    pubsub.close()


def test_concurrent_publishers_never_reuse_or_reorder_a_seq(client: redis.Redis) -> None:
    job_id = uuid.uuid4()
    pubsub = PubSub(client.connection_pool)
    pubsub.subscribe(events.events_channel(job_id))
    per_thread, threads = 50, 4

    def publish_many() -> None:
        with redis.Redis(connection_pool=client.connection_pool) as own:
            for n in range(per_thread):
                events.publish(own, _progress(job_id, n))

    workers = [threading.Thread(target=publish_many) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    received = _received(pubsub, per_thread * threads)
    assert [m["seq"] for m in received] == list(range(1, per_thread * threads + 1))
    pubsub.close()


def test_publishing_while_redis_is_unreachable_loses_the_event_quietly() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    events.publish(unreachable, _progress(uuid.uuid4(), 1))  # no exception: best effort
