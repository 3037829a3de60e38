"""Library search latency: our indexed search against a naive LIKE scan of the same rows.

Builds a migrated SQLite file and a PostgreSQL database (a DSN with rights to create one),
fills both with one key's completed jobs whose transcripts have `--words` words each, then
times a rare word (in one transcript) and a common one (in about half), through the same
repository function the API calls.

    .venv/bin/python -m benchmarks.library_search
    .venv/bin/python -m benchmarks.library_search --entries 10000 --words 2000 \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial

import psycopg
from psycopg import sql
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from alembic import command
from app.auth import keys
from app.auth.models import ApiKey
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.core.migrations import alembic_config
from app.jobs.models import Job, JobStatus
from app.library import repository
from app.library.models import LibraryEntry
from app.library.terms import SearchTerms

VOCABULARY = [f"word{n}" for n in range(5000)]
RARE, COMMON = "xylophone", "bread"


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def fill(engine: Engine, entries: int, words: int) -> uuid.UUID:
    rng = random.Random(7)
    key_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(ApiKey),
            [{"id": key_id, "name": "bench", "key_prefix": "bench",
              "key_hash": keys.digest(keys.generate(), b"x" * 32),
              "scopes": ["downloads:read"], "created_at": now}],
        )  # fmt: skip
        for start in range(0, entries, 500):
            batch = range(start, min(start + 500, entries))
            ids = {n: uuid.uuid4() for n in batch}
            connection.execute(
                insert(Job),
                [{"id": ids[n], "api_key_id": key_id, "url": "https://youtu.be/x",
                  "options": {}, "details": {}, "status": JobStatus.COMPLETED,
                  "created_at": now, "updated_at": now, "completed_at": now}
                 for n in batch],
            )  # fmt: skip
            connection.execute(
                insert(LibraryEntry),
                [{"job_id": ids[n], "api_key_id": key_id, "title": f"Video {n}",
                  "channel": "Bench", "cues": [],
                  "transcript": _transcript(rng, n, words)}
                 for n in batch],
            )  # fmt: skip
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    return key_id


def _transcript(rng: random.Random, n: int, words: int) -> str:
    chosen = rng.choices(VOCABULARY, k=words)
    if n % 2 == 0:
        chosen[rng.randrange(words)] = COMMON
    if n == 1:
        chosen[rng.randrange(words)] = RARE
    return " ".join(chosen)


def timed(run: Callable[[], object], repeat: int = 5) -> float:
    run()  # warm the caches
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def search(session: Session, key_id: uuid.UUID, word: str) -> object:
    return repository.search(
        session, api_key_id=key_id, terms=SearchTerms.parse(word), limit=20, offset=0
    )


def naive(session: Session, key_id: uuid.UUID, word: str) -> object:
    """The baseline: what a service without a full-text index would do."""
    return session.scalar(
        select(func.count())
        .select_from(LibraryEntry)
        .where(LibraryEntry.api_key_id == key_id, LibraryEntry.transcript.like(f"% {word} %"))
    )


def measure(label: str, database_url: str, entries: int, words: int) -> None:
    migrate(database_url)
    engine = create_sync_engine(database_url)
    try:
        key_id = fill(engine, entries, words)
        sessions = sync_sessionmaker(engine)
        for word in (RARE, COMMON):
            with session_scope(sessions) as session:
                ours = timed(partial(search, session, key_id, word))
                baseline = timed(partial(naive, session, key_id, word))
            print(
                f"{label:<10} {word:<10} search {ours * 1000:8.1f} ms   "
                f"LIKE scan {baseline * 1000:8.1f} ms   ratio {ours / baseline:5.2f}"
            )
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(f"{args.entries} completed jobs, {args.words} transcript words each")
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        measure("sqlite", url, args.entries, args.words)
    name = f"yds_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        base = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        measure("postgresql", f"{base}/{name}", args.entries, args.words)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
