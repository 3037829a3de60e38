from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from app.auth.dependencies import CurrentKey
from app.core.dependencies import DbSession
from app.downloads import repository
from app.downloads.exceptions import JobNotFound
from app.downloads.models import Job


async def owned_job(job_id: uuid.UUID, session: DbSession, api_key: CurrentKey) -> Job:
    """The job, if the calling key created it; any other key gets the same 404 as a missing id."""
    job = await session.run_sync(repository.get_owned_job, job_id, api_key.id)
    if job is None:
        raise JobNotFound()
    return job


JobOwned = Annotated[Job, Depends(owned_job, scope="function")]
