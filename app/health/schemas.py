from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Versions(BaseModel):
    service: str
    # The API's; workers update yt-dlp without a rebuild, so theirs may be newer.
    yt_dlp: str
    # By live worker (host:pid).
    yt_dlp_workers: dict[str, str] = {}


class DependencyCheck(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class BreakerStatus(BaseModel):
    open: bool
    retry_in_seconds: int


class YtdlpUpdateStatus(BaseModel):
    mode: Literal["off", "stable", "nightly"]
    pinned_version: str
    # What a process started now loads (the API's and the workers' next start).
    active_version: str
    last_attempt_at: datetime | None
    last_result: Literal["updated", "up_to_date", "failed_self_check", "install_failed"] | None
    last_message: str | None


class YtdlpVersions(BaseModel):
    api: str
    # By worker (host:pid), as each announces itself.
    workers: dict[str, str]
    update: YtdlpUpdateStatus


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, DependencyCheck]
    # "youtube" (every route rests: new YouTube work waits) and "route:<proxy>" per route
    # (that route rests); an open breaker does not make the API unhealthy.
    circuit_breakers: dict[str, BreakerStatus]
    yt_dlp: YtdlpVersions
