"""`ReadableJob` and `WritableJob`: the job in the path, if the calling key created it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.dependencies import DbSession
from app.auth.dependencies import ReadKey, WriteKey
from app.auth.models import ApiKey
from app.jobs import repository
from app.jobs.exceptions import JobNotFound
from app.jobs.models import Job


async def _owned(session: AsyncSession, job_id: uuid.UUID, api_key: ApiKey) -> Job:
    """Any other key gets the same 404 as a missing id: jobs are visible only to their key."""
    job = await session.run_sync(repository.get_owned_job, job_id, api_key.id)
    if job is None:
        raise JobNotFound()
    return job


# The scope is checked before the job is looked up: a key without it gets 403 everywhere.
async def readable_job(job_id: uuid.UUID, session: DbSession, api_key: ReadKey) -> Job:
    return await _owned(session, job_id, api_key)


async def writable_job(job_id: uuid.UUID, session: DbSession, api_key: WriteKey) -> Job:
    return await _owned(session, job_id, api_key)


ReadableJob = Annotated[Job, Depends(readable_job, scope="function")]
WritableJob = Annotated[Job, Depends(writable_job, scope="function")]
