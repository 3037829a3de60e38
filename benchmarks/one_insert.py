"""The baseline of `benchmarks.api_accept`: a FastAPI endpoint that validates a small JSON
body and does one INSERT, served by uvicorn like the API, on an engine made the API's way
(`create_api_engine`: the same pool, and SQLite in WAL mode with the same pragmas).

    BASELINE_DATABASE_URL=sqlite+aiosqlite:///x.db python -m benchmarks.one_insert PORT
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, MetaData, String, Table, insert

from app.core.database import create_api_engine

metadata = MetaData()
jobs = Table(
    "baseline_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
engine = create_api_engine(os.environ["BASELINE_DATABASE_URL"])


class Body(BaseModel):
    url: str


class Created(BaseModel):
    job_id: str
    status: str


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/jobs", status_code=202)
async def create(body: Body) -> Created:
    job_id = str(uuid.uuid4())
    async with engine.begin() as connection:
        row = {"id": job_id, "url": body.url, "created_at": dt.datetime.now(dt.UTC)}
        await connection.execute(insert(jobs).values(**row))
    return Created(job_id=job_id, status="queued")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
