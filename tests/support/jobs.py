"""Client-side helpers for tests: submit jobs and follow them over the real WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed


@dataclass
class Watched:
    events: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # time.monotonic() of each event
    close_code: int | None = None

    @property
    def snapshot(self) -> dict[str, Any]:
        assert self.events and self.events[0]["type"] == "snapshot", self.events[:1]
        return self.events[0]

    @property
    def final(self) -> dict[str, Any]:
        return self.events[-1]

    def progress_values(self) -> list[float]:
        values = [self.snapshot["job"]["progress"]]
        return values + [e["progress"] for e in self.events[1:]]


async def watch(
    ws_url: str,
    job_id: str,
    *,
    key: str | None,
    via_query: bool = False,
    within: float = 120.0,
    until: Any = None,
    headers: dict[str, str] | None = None,
) -> Watched:
    """Collect every WebSocket message of a job until the server closes (or `until(event)`),
    failing after `within` seconds."""
    url = f"{ws_url}/ws/progress/{job_id}"
    headers = dict(headers or {})
    if key is not None and via_query:
        url += f"?api_key={key}"
    elif key is not None:
        headers["X-API-Key"] = key
    watched = Watched()
    try:
        async with asyncio.timeout(within), connect(url, additional_headers=headers) as socket:
            while True:
                event = json.loads(await socket.recv(decode=True))
                watched.events.append(event)
                watched.received_at.append(time.monotonic())
                if until is not None and until(event):
                    return watched
    except ConnectionClosed as closed:
        watched.close_code = closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        raise TimeoutError(
            f"no close within {within} s; last events: {watched.events[-3:]}"
        ) from None
    return watched


async def submit(http: httpx.AsyncClient, key: str, url: str, **options: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/downloads", json={"url": url, **options}, headers={"X-API-Key": key}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def fetch_job(http: httpx.AsyncClient, key: str, job_id: str) -> dict[str, Any]:
    response = await http.get(f"/api/v1/downloads/{job_id}", headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
