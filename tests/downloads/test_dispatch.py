"""A job accepted by the API process reaches a real Celery worker: the API publishes the
task message itself, on its asyncio Redis connection, and the worker runs it."""

from __future__ import annotations

import httpx
import pytest

from tests.support.jobs import submit, watch
from tests.support.offline_youtube import STANDARD_VIDEO_ID
from tests.support.stack import StartStack

pytestmark = pytest.mark.e2e


async def test_a_worker_runs_the_job_the_api_published(start_stack: StartStack) -> None:
    stack = start_stack("dispatch", redis_db=11)
    key = stack.key()
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(http, key, stack.youtube.video_url(STANDARD_VIDEO_ID))
    watched = await watch(stack.ws_url, job["job_id"], key=key)
    assert watched.final["status"] == "completed", watched.final
