"""What each worker finds about YouTube from where it runs, kept in Redis for the doctor.

The API cannot see what matters on a worker's host: its JavaScript runtime, the PO-token
provider on its loopback (an ECS sidecar, a compose service in its network), the yt-dlp it
loaded and the settings it was started with. Each worker checks them on a clock and keeps
the latest answer under a key that expires when the worker is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import asdict, dataclass

import redis
import redis.asyncio

from app.core.config import Settings
from app.core.database import utcnow
from app.youtube import potoken, runtime

logger = logging.getLogger(__name__)

KEY_PREFIX = "yds:youtube:worker:"
REPORT_SECONDS = 60.0
TTL_SECONDS = 3 * int(REPORT_SECONDS)
PROBE_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class WorkerReport:
    worker: str
    checked_at: str  # ISO 8601, UTC
    ytdlp_version: str
    js_runtimes: list[str]  # YTDLP_JS_RUNTIMES as the worker has it
    js_runtime: str | None
    js_runtime_version: str | None
    ejs_version: str | None
    ejs_expected: str | None
    solver_runs: bool
    js_error: str | None
    impersonate: str  # YTDLP_IMPERSONATE as the worker has it ("" is off)
    impersonation_targets: list[str]
    pot_provider_configured: bool
    pot_provider_reachable: bool
    pot_provider_version: str | None
    pot_provider_error: str | None


def collect(settings: Settings, worker: str) -> WorkerReport:
    found = runtime.probe_js_runtime(settings.js_runtimes, timeout=PROBE_TIMEOUT_SECONDS)
    provider = asyncio.run(potoken.provider_status(settings, timeout=PROBE_TIMEOUT_SECONDS))
    return WorkerReport(
        worker=worker,
        checked_at=utcnow().isoformat(),
        ytdlp_version=runtime.ytdlp_version(),
        js_runtimes=list(settings.ytdlp_js_runtimes),
        js_runtime=found.name,
        js_runtime_version=found.version,
        ejs_version=found.ejs_version,
        ejs_expected=found.expected_ejs_version,
        solver_runs=found.solver_runs,
        js_error=found.error,
        impersonate=settings.ytdlp_impersonate,
        impersonation_targets=runtime.impersonation_targets(),
        pot_provider_configured=provider.configured,
        pot_provider_reachable=provider.reachable,
        pot_provider_version=provider.version,
        pot_provider_error=provider.error,
    )


def publish(client: redis.Redis, report: WorkerReport) -> None:
    client.set(KEY_PREFIX + report.worker, json.dumps(asdict(report)), ex=TTL_SECONDS)


async def read_reports(client: redis.asyncio.Redis) -> list[WorkerReport]:
    """The latest report of every worker alive, in worker order."""
    keys = sorted([key async for key in client.scan_iter(match=KEY_PREFIX + "*", count=100)])
    if not keys:
        return []
    reports = []
    for raw in await client.mget(keys):
        if raw is None:
            continue  # expired between the scan and the read
        try:
            reports.append(WorkerReport(**json.loads(raw)))
        except (TypeError, ValueError):
            continue  # written by another version of the service
    return reports


class WorkerReporter:
    """A daemon thread in a worker's main process: a report at start, then on the clock."""

    def __init__(self, settings: Settings, client: redis.Redis, worker: str) -> None:
        self._settings = settings
        self._client = client
        self._worker = worker
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="youtube-report", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._client.delete(KEY_PREFIX + self._worker)
        except redis.RedisError:
            logger.warning("could not remove the worker's YouTube report", exc_info=True)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                publish(self._client, collect(self._settings, self._worker))
            except Exception:  # a probe's failure must not end the clock
                logger.warning("could not report on YouTube's requirements", exc_info=True)
            if self._stopped.wait(REPORT_SECONDS):
                return
