"""Shared pieces of the fault tests."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.support.offline_youtube import SLOW_VIDEO_ID, OfflineYouTube
from tests.support.stack import Stack


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung Redis or provider)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def throttled_copy(youtube: OfflineYouTube, video_id: str, rate: int) -> str:
    """The slow fixture under its own video id, served at `rate` bytes/s."""
    entry = copy.deepcopy(youtube.catalog["videos"][SLOW_VIDEO_ID])
    for fmt in entry["formats"]:
        fmt["url"] = re.sub(r"rate=\d+", f"rate={rate}", fmt["url"])
    youtube.set_entry(video_id, {**entry, "id": video_id})
    return youtube.video_url(video_id)


def failing_copy(youtube: OfflineYouTube, video_id: str, status: int) -> str:
    """The slow fixture under its own video id, its media answering `status` to every
    request (a media server that stays broken)."""
    entry = copy.deepcopy(youtube.catalog["videos"][SLOW_VIDEO_ID])
    for fmt in entry["formats"]:
        fmt["url"] = re.sub(r"rate=\d+", f"status={status}", fmt["url"])
    youtube.set_entry(video_id, {**entry, "id": video_id})
    return youtube.video_url(video_id)


async def job(http: httpx.AsyncClient, key: str, job_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": key})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def wait_for(
    http: httpx.AsyncClient,
    key: str,
    job_id: str,
    condition: Any,
    *,
    within: float = 120,
    poll: float = 0.25,
) -> dict[str, Any]:
    """Poll a job until `condition(job)`; the database is the truth these tests check."""
    deadline = time.monotonic() + within
    while True:
        try:
            current = await job(http, key, job_id)
            if condition(current):
                return current
        except httpx.HTTPError:
            current = {}
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never met the condition; last seen {current}")
        await asyncio.sleep(poll)


async def stored_sha256(http: httpx.AsyncClient, key: str, done: dict[str, Any]) -> str:
    video = next(f for f in done["files"] if f["kind"] == "video")
    content = (await http.get(video["url"], headers={"X-API-Key": key})).content
    assert hashlib.sha256(content).hexdigest() == video["sha256"]
    return str(video["sha256"])


def stack_client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.base_url, timeout=30)
