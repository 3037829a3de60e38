"""Which workers are alive, kept in Redis: a key per worker that the worker refreshes.

Celery's `control.ping` needs a broadcast channel, which SQS does not have; a key with a
TTL answers "is any worker up?" with every broker. A worker stopped cleanly removes its key
at once; a killed one drops out when the TTL runs out. The key's value is the yt-dlp version
the worker runs (workers update it without a rebuild, so they may differ).
"""

from __future__ import annotations

import logging
import threading

import redis
import redis.asyncio

logger = logging.getLogger(__name__)

KEY_PREFIX = "yds:workers:"
TTL_SECONDS = 30
REFRESH_SECONDS = 10


def _key(worker: str) -> str:
    return f"{KEY_PREFIX}{worker}"


def is_present(client: redis.Redis, worker: str) -> bool:
    """Whether this worker (`host:pid`) has announced itself and not expired."""
    return bool(client.exists(_key(worker)))


class WorkerPresence:
    """A daemon thread that keeps this worker's key alive until `stop()`."""

    def __init__(self, client: redis.Redis, worker: str, *, ytdlp_version: str = "") -> None:
        self._client = client
        self._worker = worker
        self._ytdlp_version = ytdlp_version or "unknown"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        try:
            self._client.delete(_key(self._worker))
        except redis.RedisError:
            logger.warning("could not remove worker presence", exc_info=True)

    def _run(self) -> None:
        while True:
            try:
                self._client.set(_key(self._worker), self._ytdlp_version, ex=TTL_SECONDS)
            except redis.RedisError:
                logger.warning("could not refresh worker presence", exc_info=True)
            if self._stopped.wait(REFRESH_SECONDS):
                return


async def live_workers(client: redis.asyncio.Redis) -> list[str]:
    """Names of the workers whose key has not expired."""
    names = [key async for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=100)]
    return sorted(
        (name.decode() if isinstance(name, bytes) else str(name)).removeprefix(KEY_PREFIX)
        for name in names
    )


async def live_worker_versions(client: redis.asyncio.Redis) -> dict[str, str]:
    """The yt-dlp version each live worker runs, by worker name."""
    names = await live_workers(client)
    if not names:
        return {}
    values = await client.mget([_key(name) for name in names])
    return {
        name: (value.decode() if isinstance(value, bytes) else str(value))
        for name, value in zip(names, values, strict=True)
        if value is not None  # expired between the scan and the read
    }
