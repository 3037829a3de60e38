"""A reconnect storm: a thousand WebSockets opening at once on one job, against the real API
process on PostgreSQL. Every one gets its snapshot and a normal close, and the database
sees a handful of transactions, not a few per socket (PostgreSQL's own statistics count
them)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
import redis

from tests.support.databases import DatabaseFactory
from tests.support.stack import Stack, StartStack
from tests.support.streams import Follower, completed, follow, queued_job, socket_url

SOCKETS = 1000
# Each socket on its own would open about four: its key, the job, the family, a recheck.
MAX_TRANSACTIONS = SOCKETS // 10


@pytest.fixture(scope="module")
def postgres_stack(start_stack: StartStack, db_factory: DatabaseFactory) -> Stack:
    return start_stack("progress-storm", database_url=db_factory.postgres(), workers=0, redis_db=1)


@pytest.fixture
async def http(postgres_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=postgres_stack.base_url, timeout=30) as client:
        yield client


def transactions(database_url: str) -> int:
    """Transactions PostgreSQL has counted for the stack's database, once every backend has
    reported: backends report when idle, within about a second, so wait until the count
    holds still for two seconds."""
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin_dsn, _, name = dsn.rpartition("/")
    query = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s"
    # Asked from another database: this connection's own queries must not count.
    with psycopg.connect(f"{admin_dsn}/postgres", autocommit=True) as conn:
        deadline = time.monotonic() + 60
        last, since = -1, time.monotonic()
        while True:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(query, (name,)).fetchone()
            count = int(row[0]) if row else 0
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= 2:
                return count
            assert time.monotonic() < deadline, "the statistics never settled"
            time.sleep(0.1)  # polling PostgreSQL's counter; nothing to wait on


async def test_a_thousand_sockets_opening_at_once_share_their_database_reads(
    postgres_stack: Stack, http: httpx.AsyncClient
) -> None:
    key = postgres_stack.key()
    job_id = await queued_job(http, key)
    url = socket_url(postgres_stack, job_id)
    before = await asyncio.to_thread(transactions, postgres_stack.database_url)

    changed = asyncio.Condition()
    followers = [Follower() for _ in range(SOCKETS)]
    tasks = [asyncio.create_task(follow(url, key, f, changed=changed)) for f in followers]
    async with asyncio.timeout(180), changed:
        await changed.wait_for(lambda: all(f.messages or f.close_code for f in followers))
    during = await asyncio.to_thread(transactions, postgres_stack.database_url) - before
    with redis.Redis.from_url(postgres_stack.env["REDIS_URL"]) as publisher:
        completed(publisher, job_id)
    await asyncio.gather(*tasks)

    for follower in followers:
        assert follower.events[0]["type"] == "snapshot", follower.messages[:1]
        assert follower.events[0]["job"]["status"] == "queued"
        assert follower.events[-1]["status"] == "completed" and follower.close_code == 1000
    print(f"{SOCKETS} sockets opened at once: {during} database transactions")
    assert during <= MAX_TRANSACTIONS, during
    assert "Traceback" not in postgres_stack.api.log()
