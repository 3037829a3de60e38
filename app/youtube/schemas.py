from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from pydantic import BaseModel


class CheckStatus(enum.StrEnum):
    OK = "ok"
    OFF = "off"  # not configured; fine until YouTube asks for it
    WARN = "warn"
    FAIL = "fail"


class DoctorCheck(BaseModel):
    name: str
    status: CheckStatus
    detail: str
    # What to change, in this service's settings and commands; None when nothing is to do.
    fix: str | None = None
    facts: dict[str, Any] = {}
    latency_ms: float


class FailureGroup(BaseModel):
    code: str
    count: int
    last_at: dt.datetime
    last_message: str | None
    hint: str | None


class DoctorReport(BaseModel):
    status: CheckStatus
    checked_at: dt.datetime
    checks: list[DoctorCheck]
    # The last YouTube failures (failed jobs and jobs waiting to retry), by error code.
    recent_failures: list[FailureGroup]
    recent_failures_window: int
