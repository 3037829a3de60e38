"""Settling a parent against real databases: concurrent settles never dispatch more children
than the cap, and the parent ends with the right status once no child is open."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import families
from app.downloads.batches import insert_batch
from app.downloads.endings import JobEffects
from app.downloads.families import NewChild
from app.jobs.models import Job, JobKind, JobStage, JobStatus
from tests.support.effects import RecordedEffects
from tests.support.factories import create_key


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_sync_engine(database_url)
    yield sync_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def effects(settings: Settings) -> JobEffects:
    return RecordedEffects(settings.redis_url, settings.work_dir).effects()


def expanded_parent(
    sessions: sessionmaker[Session], database_url: str, entries: int, concurrency: int
) -> uuid.UUID:
    key = create_key(database_url).api_key.id
    with session_scope(sessions) as session:
        parent = insert_batch(
            session,
            api_key_id=key,
            options={},
            collection={"concurrency": concurrency},
            webhook_url=None,
            children=[
                NewChild(position=n, url=f"https://www.youtube.com/watch?v=video{n:06d}")
                for n in range(1, entries + 1)
            ],
        )
        return parent.id


def settle_from_threads(
    sessions: sessionmaker[Session], parent_id: uuid.UUID, effects: JobEffects
) -> list[uuid.UUID]:
    dispatched: list[uuid.UUID] = []
    barrier = threading.Barrier(8)

    def settle() -> None:
        barrier.wait()
        with session_scope(sessions) as session:
            settled = families.settle(session, parent_id, effects=effects, default_concurrency=3)
        dispatched.extend(settled.dispatched if settled else [])

    threads = [threading.Thread(target=settle) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dispatched


def set_status(sessions: sessionmaker[Session], ids: list[uuid.UUID], status: JobStatus) -> None:
    with session_scope(sessions) as session:
        session.execute(update(Job).where(Job.id.in_(ids)).values(status=status))


def parent_row(sessions: sessionmaker[Session], parent_id: uuid.UUID) -> Job:
    with session_scope(sessions) as session:
        return session.scalars(select(Job).where(Job.id == parent_id)).one()


def test_concurrent_settles_never_dispatch_more_than_the_cap(
    sessions: sessionmaker[Session], database_url: str, effects: JobEffects
) -> None:
    parent_id = expanded_parent(sessions, database_url, entries=10, concurrency=3)
    first = settle_from_threads(sessions, parent_id, effects)
    assert len(first) == 3 and len(set(first)) == 3

    set_status(sessions, first[:1], JobStatus.COMPLETED)
    set_status(sessions, first[1:2], JobStatus.PROCESSING)
    second = settle_from_threads(sessions, parent_id, effects)
    assert len(second) == 1 and not set(second) & set(first)

    # Everything ends: the parent completes, with the failure counted.
    with session_scope(sessions) as session:
        children = list(session.scalars(select(Job.id).where(Job.parent_id == parent_id)))
    set_status(sessions, children, JobStatus.COMPLETED)
    set_status(sessions, children[:2], JobStatus.FAILED)
    assert settle_from_threads(sessions, parent_id, effects) == []
    parent = parent_row(sessions, parent_id)
    assert parent.status is JobStatus.COMPLETED and parent.progress == 100.0
    assert parent.completed_at is not None and parent.stage is None


def test_a_parent_whose_children_all_failed_fails_and_one_without_children_too(
    sessions: sessionmaker[Session], database_url: str, effects: JobEffects
) -> None:
    parent_id = expanded_parent(sessions, database_url, entries=2, concurrency=3)
    with session_scope(sessions) as session:
        children = list(session.scalars(select(Job.id).where(Job.parent_id == parent_id)))
    set_status(sessions, children, JobStatus.FAILED)
    settle_from_threads(sessions, parent_id, effects)
    parent = parent_row(sessions, parent_id)
    assert parent.status is JobStatus.FAILED and parent.error_code == "all_entries_failed"

    empty = expanded_parent(sessions, database_url, entries=0, concurrency=3)
    settle_from_threads(sessions, empty, effects)
    assert parent_row(sessions, empty).error_code == "playlist_empty"


def test_an_unexpanded_parent_is_not_settled(
    sessions: sessionmaker[Session], database_url: str, effects: JobEffects
) -> None:
    parent_id = expanded_parent(sessions, database_url, entries=3, concurrency=3)
    with session_scope(sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id == parent_id)
            .values(kind=JobKind.PLAYLIST, stage=JobStage.EXTRACTING, heartbeat_at=Job.created_at)
        )
    assert settle_from_threads(sessions, parent_id, effects) == []
    assert parent_row(sessions, parent_id).status is JobStatus.PROCESSING


def test_a_parents_progress_follows_its_entries_bytes(
    sessions: sessionmaker[Session], database_url: str, effects: JobEffects
) -> None:
    parent_id = expanded_parent(sessions, database_url, entries=4, concurrency=4)
    with session_scope(sessions) as session:
        short, long, unstarted, private = session.scalars(
            select(Job.id).where(Job.parent_id == parent_id).order_by(Job.position)
        )
        rows = {
            short: {"status": JobStatus.COMPLETED, "progress": 100.0, "total_bytes": 1_000_000},
            long: {"status": JobStatus.PROCESSING, "progress": 50.0, "total_bytes": 9_000_000},
            unstarted: {"status": JobStatus.QUEUED, "progress": 0.0, "total_bytes": None},
            private: {"status": JobStatus.FAILED, "progress": 2.0, "total_bytes": None},
        }
        for child_id, values in rows.items():
            session.execute(update(Job).where(Job.id == child_id).values(**values))
    with session_scope(sessions) as session:
        settled = families.settle(session, parent_id, effects=effects, default_concurrency=4)
    # Bytes: 1 MB done, 4.5 of 9 MB, and two entries of unknown size weighing 5 MB (the
    # average known size) each, the failed one done: 10.5 of 20 MB.
    expected = 100 * 10.5 / 20
    assert settled is not None and settled.progress == pytest.approx(expected)
    assert parent_row(sessions, parent_id).progress == pytest.approx(expected)
    assert expected != pytest.approx((100 + 50 + 0 + 100) / 4), "not counted per entry"


def test_an_entry_not_sized_yet_weighs_its_duration_at_the_family_bytes_per_second(
    sessions: sessionmaker[Session], database_url: str, effects: JobEffects
) -> None:
    parent_id = expanded_parent(sessions, database_url, entries=3, concurrency=3)
    with session_scope(sessions) as session:
        sized, long, untimed = session.scalars(
            select(Job.id).where(Job.parent_id == parent_id).order_by(Job.position)
        )
        rows: dict[uuid.UUID, dict[str, Any]] = {
            # 10 s of video in 1 MB: 100 kB/s, so the 90 s entry should weigh 9 MB
            sized: {"status": JobStatus.COMPLETED, "total_bytes": 1_000_000, "duration": 10.0},
            long: {"status": JobStatus.PROCESSING, "progress": 1.0, "duration": 90.0},
            untimed: {"status": JobStatus.QUEUED},
        }
        for child_id, values in rows.items():
            session.execute(update(Job).where(Job.id == child_id).values(**values))
    with session_scope(sessions) as session:
        settled = families.settle(session, parent_id, effects=effects, default_concurrency=3)
        live = families.ByteWeights()
        for child in families.child_states(session, parent_id):
            live.add(child.status, child.progress, child.total_bytes, child.duration)
    # 1 MB done + 1% of 9 MB, of 1 + 9 + 5 (the average) MB
    expected = 100 * (1 + 0.09) / 15
    assert settled is not None and settled.progress == pytest.approx(expected)
    assert live.progress == pytest.approx(expected), "a live aggregate weighs the same"
