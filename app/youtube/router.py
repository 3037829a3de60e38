from __future__ import annotations

from fastapi import APIRouter

from app.api.dependencies import AppSettings, State
from app.auth.dependencies import AdminKey
from app.auth.exceptions import AUTH_ERRORS, InsufficientScope
from app.core.errors import error_responses
from app.youtube import doctor
from app.youtube.schemas import DoctorReport

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
ERRORS = error_responses(*AUTH_ERRORS, InsufficientScope)


@router.get("/doctor", response_model=DoctorReport, responses=ERRORS)
async def run_doctor(state: State, settings: AppSettings, _admin: AdminKey) -> DoctorReport:
    """Every reason YouTube downloads could fail here, each with a status and a fix. Every
    check has its own time limit, so the answer comes within a few seconds."""
    # The operations pools: a loaded API still answers its doctor.
    return await doctor.diagnose(
        settings=settings, redis=state.ops_redis, sessions=state.ops_sessions
    )
