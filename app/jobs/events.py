"""A job's live events: what workers and the API publish when a job moves, and what
progress streams (WebSocket, server-sent events) send after the snapshot.

Publishing is one Redis script per event, so it is atomic however many workers publish: it
numbers the event in the job's sequence (`seq`, INCR per job), keeps it in the job's
bounded history (for clients that resume with the last `seq` they saw), publishes it to the
job's channel (a child's also to its parent's, numbered in the parent's sequence) and sets
the job's "latest" key. The row stays the truth, so publishing is best effort."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from typing import Literal

import redis
from pydantic import BaseModel, Field
from redis.exceptions import NoScriptError

from app.jobs.models import JobStage, JobStatus, Priority, WaitingReason
from app.jobs.schemas import ChildCounts, JobError

logger = logging.getLogger(__name__)

LATEST_TTL_SECONDS = 3600
# The history a stream resumes from: about 25 s of a download's progress at 4 events a
# second, plus every stage and status event of that time; kept 10 minutes after the last.
HISTORY_EVENTS = 100
HISTORY_SECONDS = 600
# A job's counter outlives any pause between its events (retry backoff, YouTube's pause),
# so its numbers never start over while it runs.
SEQ_TTL_SECONDS = 86400
EVENTS_PATTERN = "yds:job:*:events"


class ProgressEvent(BaseModel):
    """What the worker publishes and WebSocket clients receive after the snapshot."""

    type: Literal["progress", "stage", "status", "aggregate"]
    seq: int = Field(
        default=0,
        description="Position in the stream being watched (the job's; on a parent's stream, "
        "the parent's): increasing, gaps only where a slow client's progress was coalesced. "
        "Resume with `?after=` (WebSocket) or `Last-Event-ID` (server-sent events).",
    )
    emitted_at: dt.datetime | None = Field(
        default=None, description="When the event was published (UTC)."
    )
    job_id: uuid.UUID
    parent_id: uuid.UUID | None = Field(
        default=None, description="Set on a child's events, also sent to its parent's stream."
    )
    status: JobStatus
    stage: JobStage | None
    progress: float
    downloaded_bytes: int | None = None
    total_bytes: int | None = None
    speed: float | None = None
    eta: int | None = None
    error: JobError | None = None
    children: ChildCounts | None = Field(
        default=None, description="Aggregate events of a parent: its children by status."
    )
    waiting_reason: WaitingReason | None = Field(
        default=None, description="A queued job's status event: why it waits."
    )
    retry_at: dt.datetime | None = Field(
        default=None, description="A queued job's status event: when it runs again, if known."
    )
    priority: Priority | None = Field(
        default=None,
        description="A queued job's status event after it waited PRIORITY_AGE_BOOST_MINUTES: "
        "the priority it was raised to (null in other events: the job's is unchanged).",
    )
    at: dt.datetime


def status_event(
    job_id: uuid.UUID,
    status: JobStatus,
    progress: float,
    error: JobError | None = None,
    *,
    parent_id: uuid.UUID | None = None,
) -> ProgressEvent:
    """A status event built from what the database says (an ending, a lost event)."""
    return ProgressEvent(
        type="status",
        job_id=job_id,
        parent_id=parent_id,
        status=status,
        stage=None,
        progress=100.0 if status is JobStatus.COMPLETED else progress,
        error=error,
        at=dt.datetime.now(dt.UTC),
    )


def events_channel(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:events"


def channel_job_id(channel: str | bytes) -> uuid.UUID | None:
    """The job whose stream a channel is, or None for a name outside `EVENTS_PATTERN`."""
    name = channel.decode() if isinstance(channel, bytes) else channel
    prefix, _, rest = name.partition(":job:")
    job, _, suffix = rest.partition(":")
    try:
        return uuid.UUID(job) if prefix == "yds" and suffix == "events" else None
    except ValueError:
        return None


def latest_key(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:latest"


def seq_key(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:seq"


def history_key(job_id: uuid.UUID) -> str:
    return f"yds:job:{job_id}:history"


def decode(raw: str | bytes) -> ProgressEvent:
    return ProgressEvent.model_validate_json(raw)


# KEYS: the job's latest key, then for each stream (the job's, then its parent's) its seq
# and history keys. ARGV: the event's JSON without `seq`, the history's size and lifetime,
# the counter's and the latest key's lifetimes, then each stream's channel.
_PUBLISH_SCRIPT = """
local body = string.sub(ARGV[1], 2)
local first
for i = 0, #ARGV - 6 do
  local seq = redis.call('INCR', KEYS[2 + 2 * i])
  redis.call('EXPIRE', KEYS[2 + 2 * i], ARGV[4])
  local message = '{"seq":' .. seq .. ',' .. body
  redis.call('RPUSH', KEYS[3 + 2 * i], message)
  redis.call('LTRIM', KEYS[3 + 2 * i], -tonumber(ARGV[2]), -1)
  redis.call('EXPIRE', KEYS[3 + 2 * i], ARGV[3])
  redis.call('PUBLISH', ARGV[6 + i], message)
  first = first or seq
end
redis.call('SET', KEYS[1], '{"seq":' .. first .. ',' .. body, 'EX', ARGV[5])
return first
"""
# SHA-1 is what Redis names scripts by (EVALSHA), not a security measure.
_PUBLISH_SHA = hashlib.sha1(_PUBLISH_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def publish(client: redis.Redis, event: ProgressEvent) -> None:
    """Number, keep and publish one event. When Redis cannot be reached the event is lost;
    the row is not."""
    stamped = event.model_copy(update={"emitted_at": dt.datetime.now(dt.UTC)})
    body = stamped.model_dump_json(exclude={"seq"})
    streams = [event.job_id] if event.parent_id is None else [event.job_id, event.parent_id]
    keys = [latest_key(event.job_id)]
    for job_id in streams:
        keys += [seq_key(job_id), history_key(job_id)]
    lifetimes = [HISTORY_EVENTS, HISTORY_SECONDS, SEQ_TTL_SECONDS, LATEST_TTL_SECONDS]
    args: list[str | int] = [body, *lifetimes, *(events_channel(job) for job in streams)]
    try:
        try:
            client.evalsha(_PUBLISH_SHA, len(keys), *keys, *args)
        except NoScriptError:  # a new or restarted Redis: EVAL caches the script again
            client.eval(_PUBLISH_SCRIPT, len(keys), *keys, *args)
    except redis.RedisError as exc:
        logger.warning("could not publish job event: %s", exc)
