"""A worker loads only what it runs: the web framework, the HTTP client of webhooks and
the S3 SDK cost each worker process megabytes it never uses."""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded by the API, by a webhook delivery or by S3 storage, never by a worker's start.
NOT_IN_A_WORKER = (
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "httpcore",
    "boto3",
    "botocore",
    "prometheus_client",
    "asyncpg",
    "aiosqlite",
)

# What `celery -A app.core.celery_app worker` imports before it takes a message: the app,
# then the task modules it includes.
LOAD_THE_WORKER = """
import json, sys
from app.core.celery_app import celery_app
celery_app.loader.import_default_modules()
print(json.dumps(sorted(sys.modules)))
"""


def test_a_worker_process_does_not_import_what_only_the_api_uses() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_THE_WORKER], check=True, capture_output=True, text=True
    )
    modules = set(json.loads(loaded.stdout.splitlines()[-1]))
    assert "app.downloads.tasks" in modules, "the worker's task modules were not loaded"
    assert "app.downloads.pipeline" in modules
    present = [name for name in NOT_IN_A_WORKER if name in modules]
    assert present == [], f"a worker imports {present}"
