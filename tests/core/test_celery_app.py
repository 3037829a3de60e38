"""Beat's schedule, as the settings shape it; the download queues by priority."""

from __future__ import annotations

from app.core.celery_app import (
    SCRUB_TASK,
    WORKER_QUEUES,
    create_celery,
    download_queue,
)
from app.core.config import Settings


def test_the_integrity_scrub_runs_every_interval_and_zero_turns_it_off() -> None:
    hourly = Settings(_env_file=None, integrity_scrub_interval_seconds=3600)
    scrub = create_celery(hourly).conf.beat_schedule["integrity-scrub"]
    assert (scrub["task"], scrub["schedule"]) == (SCRUB_TASK, 3600)

    never = Settings(_env_file=None, integrity_scrub_interval_seconds=0)
    assert "integrity-scrub" not in create_celery(never).conf.beat_schedule


def test_each_priority_has_its_queue_and_workers_prefer_them_in_order() -> None:
    assert [download_queue(p) for p in ("high", "normal", "low")] == [
        "downloads.high",
        "downloads",  # normal keeps the queue's name from before priorities
        "downloads.low",
    ]
    assert WORKER_QUEUES == ("maintenance", "downloads.high", "downloads", "downloads.low")
    redis = create_celery(Settings(_env_file=None, redis_url="redis://127.0.0.1:1/0"))
    # Redis consumes the queues in the order listed (kombu's default rotates them).
    assert redis.conf.broker_transport_options["queue_order_strategy"] == "priority"
