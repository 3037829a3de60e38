"""Beat's schedule, as the settings shape it."""

from __future__ import annotations

from app.core.celery_app import SCRUB_TASK, create_celery
from app.core.config import Settings


def test_the_integrity_scrub_runs_every_interval_and_zero_turns_it_off() -> None:
    hourly = Settings(_env_file=None, integrity_scrub_interval_seconds=3600)
    scrub = create_celery(hourly).conf.beat_schedule["integrity-scrub"]
    assert (scrub["task"], scrub["schedule"]) == (SCRUB_TASK, 3600)

    never = Settings(_env_file=None, integrity_scrub_interval_seconds=0)
    assert "integrity-scrub" not in create_celery(never).conf.beat_schedule
