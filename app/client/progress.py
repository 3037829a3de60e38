"""Live progress bars fed by the service's WebSocket: one bar per job, and for a playlist,
channel or batch an overall bar plus a bar per entry while it runs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.table import Column
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from app.client.api import ApiClient, ClientError, ExitCode

LABEL = 40  # columns for a bar's name; the bar and its status get the rest
TERMINAL = frozenset({"completed", "failed", "canceled", "expired"})
POLL_SECONDS = 1.0
_CLOSE_AUTH = {4401, 4403}


def label(job: dict[str, Any], width: int = 60) -> str:
    """A job's name for the screen (rich markup escaped: titles may contain brackets)."""
    title = (job.get("metadata") or {}).get("title") or job.get("url") or job["job_id"]
    kind = job.get("kind", "video")
    prefix = "" if kind == "video" else f"[{kind}] "
    name = f"{prefix}{title}"
    return escape(name if len(name) <= width else name[: width - 1] + "…")


@dataclass
class _Bars:
    """The Progress display and which task shows which job."""

    progress: Progress
    tasks: dict[str, TaskID] = field(default_factory=dict)
    group: anyio.abc.TaskGroup | None = None

    def ensure(self, job_id: str, description: str, *, total: float = 100.0) -> TaskID:
        if job_id not in self.tasks:
            self.tasks[job_id] = self.progress.add_task(description, total=total, status="")
        return self.tasks[job_id]

    def show(self, job_id: str, event: dict[str, Any], description: str | None = None) -> None:
        task = self.ensure(job_id, description or job_id[:8])
        updates: dict[str, Any] = {"completed": float(event.get("progress") or 0.0)}
        if description:
            updates["description"] = description
        status, stage = event.get("status"), event.get("stage")
        self.progress.update(task, **updates, status=_status_text(status, stage, event))

    def drop(self, job_id: str) -> None:
        task = self.tasks.pop(job_id, None)
        if task is not None:
            self.progress.remove_task(task)


def _status_text(status: str | None, stage: str | None, event: dict[str, Any]) -> str:
    children = event.get("children")
    if children:
        return f"{children['completed']}/{children['total']} done, {children['failed']} failed" + (
            f", {children['skipped']} skipped" if children.get("skipped") else ""
        )
    if status != "processing":
        error = event.get("error") or {}
        text = f"{status}: {error['code']}" if error.get("code") else str(status or "")
        waiting = waiting_text(event)
        return f"{text} ({waiting})" if waiting else text
    parts = [stage or "processing"]
    done, total = event.get("downloaded_bytes"), event.get("total_bytes")
    if done is not None and total:
        parts.append(f"{_megabytes(done)}/{_megabytes(total)}")
    if event.get("speed"):
        parts.append(f"{_megabytes(event['speed'])}/s")
    if event.get("eta") is not None:
        parts.append(f"eta {event['eta']}s")
    return " ".join(parts)


def waiting_text(job: dict[str, Any]) -> str:
    """Why a queued job (or its status event) waits, and until when if known: "waiting:
    youtube_paused until 18:42:10 UTC"; empty when it does not say."""
    reason = job.get("waiting_reason") if job.get("status") == "queued" else None
    if not reason:
        return ""
    retry_at = job.get("retry_at")
    until = f" until {retry_at[11:19]} UTC" if isinstance(retry_at, str) and retry_at else ""
    return f"waiting: {reason}{until}"


def _megabytes(value: float) -> str:
    return f"{value / 1_000_000:.1f} MB"


def new_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}", justify="left", table_column=Column(max_width=LABEL)),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}", style="cyan"),
        console=console,
        transient=False,
        refresh_per_second=8,
    )


def follow(
    api: ApiClient, jobs: Sequence[dict[str, Any]], console: Console
) -> list[dict[str, Any]]:
    """Show every job's progress until all have ended; returns their final state."""
    bars = _Bars(new_progress(console))
    with bars.progress:
        for job in jobs:
            bars.show(job["job_id"], job, label(job, LABEL))
        try:
            anyio.run(_follow_all, api, [job["job_id"] for job in jobs], bars)
        except BaseExceptionGroup as group:
            # One clear error, not a group of tracebacks.
            raise next(_leaves(group)) from None
    return [api.job(job["job_id"]) for job in jobs]


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


async def _follow_all(api: ApiClient, job_ids: list[str], bars: _Bars) -> None:
    async with anyio.create_task_group() as group:
        bars.group = group
        for job_id in job_ids:
            group.start_soon(_follow_one, api, job_id, bars)


async def _follow_one(api: ApiClient, job_id: str, bars: _Bars) -> None:
    """Stream one job's events; fall back to polling when the WebSocket is unavailable."""
    url = f"{api.ws_url}/ws/progress/{job_id}"
    headers = {"X-API-Key": api.api_key} if api.api_key else {}
    try:
        async with connect(url, additional_headers=headers, open_timeout=10) as socket:
            async for raw in socket:
                _apply(json.loads(raw), job_id, bars, api)
    except ConnectionClosed as closed:
        if closed.rcvd is not None and closed.rcvd.code in _CLOSE_AUTH:
            reason = closed.rcvd.reason or "not allowed"
            raise ClientError("unauthorized", reason, ExitCode.AUTH) from None
    except (OSError, InvalidStatus, WebSocketException, TimeoutError):
        await _poll(api, job_id, bars)
        return
    # The stream normally ends after the job's terminal event; when it ended otherwise (the
    # API restarting closes it with 1001), the database says how the job goes on.
    await _poll(api, job_id, bars)


async def _poll(api: ApiClient, job_id: str, bars: _Bars) -> None:
    while True:
        job = await anyio.to_thread.run_sync(api.job, job_id)
        bars.show(job_id, job, label(job, LABEL))
        if job["status"] in TERMINAL:
            return
        await anyio.sleep(POLL_SECONDS)


def _apply(event: dict[str, Any], job_id: str, bars: _Bars, api: ApiClient) -> None:
    kind = event.get("type")
    if kind == "snapshot":
        job = event["job"]
        bars.show(job_id, job, label(job, LABEL))
        return
    target = str(event.get("job_id"))
    if kind == "aggregate" or target == job_id:
        bars.show(job_id, event)
        return
    # An entry of this playlist: a bar while it runs, gone once it has ended.
    if event.get("status") in TERMINAL:
        bars.drop(target)
        return
    if target not in bars.tasks and bars.group is not None:
        bars.group.start_soon(_name_entry, api, target, bars)
    bars.show(target, event, None if target in bars.tasks else f"  ↳ {target[:8]}")


async def _name_entry(api: ApiClient, entry_id: str, bars: _Bars) -> None:
    """Entries' events carry no title: look it up once."""
    try:
        entry = await anyio.to_thread.run_sync(api.job, entry_id)
    except ClientError:
        return
    task = bars.tasks.get(entry_id)
    if task is not None:
        position = entry.get("position")
        bars.progress.update(task, description=f"  ↳ {position or ''} {label(entry, LABEL - 6)}")
