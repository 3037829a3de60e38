from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Versions(BaseModel):
    service: str
    yt_dlp: str


class DependencyCheck(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class BreakerStatus(BaseModel):
    open: bool
    retry_in_seconds: int


class Readiness(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, DependencyCheck]
    # "youtube" (every route rests: new YouTube work waits) and "route:<proxy>" per route
    # (that route rests); an open breaker does not make the API unhealthy.
    circuit_breakers: dict[str, BreakerStatus]
