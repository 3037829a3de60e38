"""Library search and stats through the in-process API, on SQLite (FTS5) and PostgreSQL (GIN).

Rows are written with the real repositories: jobs by `add_submission`, library entries by the
worker's `index_job`, removals by the expiry's `end_job` and `delete_job`.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from app.auth.service import IssuedKey
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import repository as downloads
from app.downloads.endings import end_job
from app.jobs.models import FileKind, Job, JobFile, JobKind, JobStatus
from app.library import repository as library
from app.library.indexing import index_job
from app.library.models import LibraryEntry
from app.library.terms import SearchTerms
from app.transcripts.cues import Cue
from tests.support.databases import DatabaseFactory
from tests.support.effects import RecordedEffects
from tests.support.factories import create_key, insert_submission

BREAD = [
    Cue(0.0, 2.5, "Good morning, this is a recipe"),
    Cue(2.5, 6.0, "We bake bread today"),
    Cue(6.0, 9.25, "The bread needs an hour to rise"),
]
XYLOPHONE = [
    Cue(0.0, 3.0, "Welcome back to the music room"),
    Cue(3.0, 7.5, "Today the xylophone takes the lead"),
    Cue(7.5, 10.0, "Thanks for listening"),
]


@dataclass
class Library:
    """Writes jobs and library entries the way the API and the worker do."""

    engine: Engine
    database_url: str

    @property
    def sessions(self) -> sessionmaker[Session]:
        return sync_sessionmaker(self.engine)

    def key(self, name: str = "reader", scopes: list[str] | None = None) -> IssuedKey:
        return create_key(self.database_url, name, scopes=scopes)

    def job(
        self,
        owner: IssuedKey,
        *,
        title: str = "A video",
        channel: str = "A channel",
        transcripts: dict[str, list[Cue]] | None = None,
        status: JobStatus = JobStatus.COMPLETED,
        file_sizes: Sequence[int] = (),
        kind: JobKind = JobKind.VIDEO,
        parent_id: uuid.UUID | None = None,
        indexed: bool = True,
    ) -> uuid.UUID:
        video_id = uuid.uuid4().hex[:11]
        with session_scope(self.sessions) as session:
            job = insert_submission(
                session,
                api_key_id=owner.api_key.id,
                url=f"https://www.youtube.com/watch?v={video_id}",
                options={},
            )
            job.title, job.channel_name, job.video_id = title, channel, video_id
            job.status, job.kind, job.parent_id = status, kind, parent_id
            job.completed_at = dt.datetime.now(dt.UTC) if status.is_terminal else None
            session.add_all(
                JobFile(job_id=job.id, kind=FileKind.VIDEO, format="mp4", size=size,
                        sha256="0" * 64, storage_key=f"{job.id}/{n}.mp4")
                for n, size in enumerate(file_sizes)
            )  # fmt: skip
            session.flush()
            if indexed:
                index_job(session, job.id, transcripts or {})
            return job.id

    def expire(self, job_id: uuid.UUID) -> None:
        effects = RecordedEffects(os.environ["REDIS_URL"], Path(tempfile.gettempdir())).effects()
        with session_scope(self.sessions) as session:
            end_job(
                session,
                effects,
                job_id,
                status=JobStatus.EXPIRED,
                expected=Job.status == JobStatus.COMPLETED,
            )

    def delete(self, job_id: uuid.UUID) -> None:
        with session_scope(self.sessions) as session:
            downloads.delete_job(session, job_id)


@contextmanager
def library_on(database_url: str) -> Iterator[Library]:
    engine = create_sync_engine(database_url)
    try:
        yield Library(engine, database_url)
    finally:
        engine.dispose()


@pytest.fixture
def lib(database_url: str) -> Iterator[Library]:
    """On each backend (with the `client` of the same database)."""
    with library_on(database_url) as library_db:
        yield library_db


@pytest.fixture
def pg_lib(db_factory: DatabaseFactory) -> Iterator[Library]:
    with library_on(db_factory.postgres()) as library_db:
        yield library_db


async def search(
    client: httpx.AsyncClient, key: IssuedKey, q: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/library", params={"q": q, **params}, headers={"X-API-Key": key.secret}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def found(body: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(item["job_id"]) for item in body["items"]]


async def test_a_transcript_word_finds_its_job_with_snippet_and_timestamp(
    client: httpx.AsyncClient, lib: Library
) -> None:
    key = lib.key()
    lib.job(key, title="Baking at home", transcripts={"en": BREAD})
    transcripts = {"en": XYLOPHONE, "de": [Cue(1.0, 2.0, "Das Xylophone")]}
    wanted = lib.job(key, title="Band practice", channel="Music Hall", transcripts=transcripts)

    body = await search(client, key, "xylophone")

    assert body["total"] == 1 and found(body) == [wanted]
    item = body["items"][0]
    assert item["title"] == "Band practice" and item["channel"] == "Music Hall"
    assert item["url"] == f"https://www.youtube.com/watch?v={item['video_id']}"
    assert item["completed_at"] is not None
    assert "<mark>xylophone</mark>" in item["snippet"]
    assert item["matches"] == [
        {"start": 3.0, "end": 7.5, "text": "Today the xylophone takes the lead", "language": "en"},
        {"start": 1.0, "end": 2.0, "text": "Das Xylophone", "language": "de"},
    ]


async def test_title_and_channel_words_are_found(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    by_title = lib.job(key, title="Sourdough Masterclass", channel="Kitchen")
    by_channel = lib.job(key, title="Episode 4", channel="Carpentry Corner")

    title_hit = await search(client, key, "sourdough")
    channel_hit = await search(client, key, "CARPENTRY")

    assert found(title_hit) == [by_title] and found(channel_hit) == [by_channel]
    assert "<mark>Sourdough</mark>" in title_hit["items"][0]["snippet"]
    assert "<mark>Carpentry</mark>" in channel_hit["items"][0]["snippet"]
    assert title_hit["items"][0]["matches"] == []  # no cue holds the word


async def test_every_word_must_appear(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    bread = lib.job(key, title="Baking", transcripts={"en": BREAD})
    lib.job(key, title="Music", transcripts={"en": XYLOPHONE})

    assert found(await search(client, key, "bread hour")) == [bread]
    assert found(await search(client, key, "bread xylophone")) == []
    both = await search(client, key, "bread rise")
    assert [m["start"] for m in both["items"][0]["matches"]] == [2.5, 6.0]


async def test_other_keys_jobs_never_appear(client: httpx.AsyncClient, lib: Library) -> None:
    mine, theirs = lib.key("mine"), lib.key("theirs")
    my_job = lib.job(mine, title="Shared word", transcripts={"en": XYLOPHONE})
    their_job = lib.job(theirs, title="Shared word", transcripts={"en": XYLOPHONE})

    assert found(await search(client, mine, "xylophone shared")) == [my_job]
    assert found(await search(client, theirs, "xylophone shared")) == [their_job]
    stranger = lib.key("stranger")
    assert (await search(client, stranger, "xylophone"))["total"] == 0


@pytest.mark.parametrize(
    "status", [JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.FAILED, JobStatus.CANCELED]
)
async def test_only_completed_jobs_are_searched(
    client: httpx.AsyncClient, lib: Library, status: JobStatus
) -> None:
    key = lib.key()
    # Indexed anyway, to prove the search itself filters on the job's status.
    lib.job(key, title="Unfinished", transcripts={"en": XYLOPHONE}, status=status)
    assert (await search(client, key, "xylophone"))["total"] == 0


async def test_expired_and_deleted_jobs_vanish(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    expiring = lib.job(key, title="Old xylophone recital")
    deleted = lib.job(key, title="Xylophone for beginners")
    assert set(found(await search(client, key, "xylophone"))) == {expiring, deleted}

    lib.expire(expiring)
    assert found(await search(client, key, "xylophone")) == [deleted]
    lib.delete(deleted)
    assert (await search(client, key, "xylophone"))["total"] == 0

    # A new entry may take over a removed row's place in the full-text index (SQLite reuses
    # the largest rowid): it must be found by its own words only.
    newcomer = lib.job(key, title="Marimba basics")
    assert (await search(client, key, "xylophone"))["total"] == 0
    assert found(await search(client, key, "marimba")) == [newcomer]


async def test_deleting_a_playlist_removes_its_childrens_entries(
    client: httpx.AsyncClient, lib: Library
) -> None:
    key = lib.key()
    parent = lib.job(key, title="A playlist", kind=JobKind.PLAYLIST, indexed=False)
    lib.job(key, title="Xylophone part one", parent_id=parent)
    assert (await search(client, key, "xylophone"))["total"] == 1
    lib.delete(parent)
    assert (await search(client, key, "xylophone"))["total"] == 0


WITH_THE_WORD = [
    'xylophone"',
    '"xylophone',
    "xylophone*",
    "-xylophone",
    "^xylophone",
    "xylophone:",
    "(xylophone",
    "xylophone)",
    "{xylophone}",
    "xylophone & | ! <-> :*",
    "'xylophone'",
    "\x00xylophone\x00",
    "XYLOPHONE",
    "xylophone xylophone " * 10,
]
WITHOUT_A_MATCH = ["NEAR(", "NEAR(xylophone bread, 2)", "xylophone OR bread", "AND", "日本語",
                   "Ünïcödé", "a" * 200, "xylo*", "xylophone; DROP TABLE jobs; --",
                   "title:xylophone"]  # fmt: skip
WITHOUT_WORDS = ['"', "*", "-", "(", ")", '""', "''", "&|!", "😀🎉", " ", "\x00", "^:-*()"]


@pytest.mark.parametrize("q", WITH_THE_WORD)
async def test_syntax_in_the_query_is_ignored(
    client: httpx.AsyncClient, lib: Library, q: str
) -> None:
    key = lib.key()
    job = lib.job(key, title="Lesson", transcripts={"en": XYLOPHONE})
    assert found(await search(client, key, q)) == [job]


@pytest.mark.parametrize("q", WITHOUT_A_MATCH)
async def test_odd_words_find_nothing_without_failing(
    client: httpx.AsyncClient, lib: Library, q: str
) -> None:
    key = lib.key()
    lib.job(key, title="Lesson", transcripts={"en": XYLOPHONE})
    assert (await search(client, key, q))["items"] == []


@pytest.mark.parametrize("q", WITHOUT_WORDS)
async def test_a_query_without_words_is_rejected(
    client: httpx.AsyncClient, lib: Library, q: str
) -> None:
    key = lib.key()
    response = await client.get(
        "/api/v1/library", params={"q": q}, headers={"X-API-Key": key.secret}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "empty_search_query"


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "x" * 201}, {"q": "word " * 5000}, {}])
async def test_missing_empty_or_overlong_queries_are_validation_errors(
    client: httpx.AsyncClient, lib: Library, params: dict[str, str]
) -> None:
    key = lib.key()
    response = await client.get("/api/v1/library", params=params, headers={"X-API-Key": key.secret})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_unicode_words_are_matched(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    cues = [Cue(0, 1, "Привет"), Cue(1, 2, "東京 へようこそ"), Cue(2, 3, "Ünïcödé ÉCOLE")]
    job = lib.job(key, title="Voyage", transcripts={"xx": cues})
    for q in ("привет", "東京", "ünïcödé école"):
        body = await search(client, key, q)
        assert found(body) == [job], q
        assert len(body["items"][0]["matches"]) == 1, q


async def test_the_snippet_is_html_escaped(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    cues = [Cue(0, 1, "<script>alert(1)</script> & the xylophone <b>plays</b>")]
    lib.job(key, title="Plain", transcripts={"en": cues})
    snippet = (await search(client, key, "xylophone"))["items"][0]["snippet"]
    assert "<mark>xylophone</mark>" in snippet
    assert "<script>" not in snippet and "<b>" not in snippet
    assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0


async def test_matches_are_whole_words_at_most_five_in_transcript_order(
    client: httpx.AsyncClient, lib: Library
) -> None:
    key = lib.key()
    cues = [Cue(n, n + 1, f"line {n} bread") for n in range(8)]
    cues.insert(0, Cue(100, 101, "breadth and shortbread are other words"))
    lib.job(key, title="Loaves", transcripts={"en": cues})
    matches = (await search(client, key, "BREAD"))["items"][0]["matches"]
    assert [m["start"] for m in matches] == [0, 1, 2, 3, 4]


async def test_pages(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    jobs = {lib.job(key, title=f"Xylophone lesson {n}") for n in range(3)}
    first = await search(client, key, "xylophone", limit=2)
    second = await search(client, key, "xylophone", limit=2, offset=2)
    beyond = await search(client, key, "xylophone", limit=2, offset=10)
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert set(found(first)) | set(found(second)) == jobs
    assert beyond == {"items": [], "total": 3, "limit": 2, "offset": 10}


async def test_stats_count_the_callers_jobs_files_and_library(
    client: httpx.AsyncClient, lib: Library
) -> None:
    key, other = lib.key("mine"), lib.key("other")
    lib.job(key, transcripts={"en": BREAD}, file_sizes=[1000, 24])
    lib.job(key, file_sizes=[5])
    playlist = lib.job(key, kind=JobKind.PLAYLIST, status=JobStatus.PROCESSING, indexed=False)
    lib.job(key, parent_id=playlist, file_sizes=[70])
    lib.job(key, parent_id=playlist, status=JobStatus.QUEUED, indexed=False)
    lib.job(key, status=JobStatus.FAILED, indexed=False)
    expired = lib.job(key, file_sizes=[999])
    lib.expire(expired)
    lib.job(other, file_sizes=[1 << 40])

    response = await client.get("/api/v1/stats", headers={"X-API-Key": key.secret})

    assert response.status_code == 200, response.text
    assert response.json() == {
        "jobs_by_status": {
            "queued": 1,
            "processing": 1,
            "completed": 3,
            "failed": 1,
            "canceled": 0,
            "expired": 1,
            "paused": 0,
        },
        "total_jobs": 7,
        "files_stored": 4,
        "bytes_stored": 1099,
        "library_entries": 3,
    }


async def test_stats_of_a_new_key_are_zero(client: httpx.AsyncClient, lib: Library) -> None:
    key = lib.key()
    body = (await client.get("/api/v1/stats", headers={"X-API-Key": key.secret})).json()
    assert body["jobs_by_status"] == dict.fromkeys([s.value for s in JobStatus], 0)
    assert body["total_jobs"] == body["files_stored"] == body["bytes_stored"] == 0


@pytest.mark.parametrize("path", ["/api/v1/library?q=word", "/api/v1/stats"])
async def test_a_read_scope_is_required(client: httpx.AsyncClient, lib: Library, path: str) -> None:
    writer = lib.key("writer", scopes=["downloads:write"])
    anonymous = await client.get(path)
    forbidden = await client.get(path, headers={"X-API-Key": writer.secret})
    assert anonymous.status_code == 401
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "insufficient_scope"


def test_postgresql_search_uses_the_gin_index(pg_lib: Library) -> None:
    key = pg_lib.key()
    target = pg_lib.job(key, title="The one", transcripts={"en": XYLOPHONE})
    fill_library(pg_lib.engine, key, count=3000)
    engine = pg_lib.engine

    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(pg_lib.sessions) as session:
            hits, total = library.search(
                session,
                api_key_id=key.api_key.id,
                terms=SearchTerms.parse("xylophone"),
                limit=20,
                offset=0,
            )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert [hit.job_id for hit in hits] == [target] and total == 1

    ranked = next(s for s in statements if "ts_rank" in s[0])
    with engine.connect() as connection, connection.begin() as transaction:
        # On a table this small, scanning the stored tsvectors (or the one key's rows) may
        # be cheapest; what matters is that the query's match can use the GIN index. The
        # other index is dropped inside the transaction, which is rolled back.
        connection.exec_driver_sql("DROP INDEX ix_library_entries_api_key_id")
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.exec_driver_sql("EXPLAIN " + ranked[0], ranked[1]).scalars().all()
        transaction.rollback()
    assert any("ix_library_search" in line for line in plan), "\n".join(plan)


def fill_library(engine: Engine, key: IssuedKey, *, count: int) -> None:
    """Many completed, indexed jobs of one key (so the key does not narrow the search)."""
    now = dt.datetime.now(dt.UTC)
    ids = [uuid.uuid4() for _ in range(count)]
    with engine.begin() as connection:
        connection.execute(
            insert(Job),
            [
                {"id": job_id, "api_key_id": key.api_key.id, "url": "https://youtu.be/x",
                 "options": {}, "details": {}, "status": JobStatus.COMPLETED,
                 "created_at": now, "updated_at": now, "completed_at": now}
                for job_id in ids
            ],
        )  # fmt: skip
        connection.execute(
            insert(LibraryEntry),
            [
                {"job_id": job_id, "api_key_id": key.api_key.id, "title": f"Filler {n}",
                 "channel": "Filler channel", "cues": [],
                 "transcript": f"word{n} and some ordinary talk about bread number {n}"}
                for n, job_id in enumerate(ids)
            ],
        )  # fmt: skip
        connection.execute(text("ANALYZE"))
