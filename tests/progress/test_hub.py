"""The fan-out's parts in-process: a mailbox stays bounded whatever arrives, keeping a
stuck client's latest state; the hub hands events only to their job's watchers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from app.jobs.events import ProgressEvent, events_channel
from app.jobs.models import JobStage, JobStatus
from app.progress.hub import Closing, Mailbox, ProgressHub, Published, StreamUnavailable
from tests.support.constants import TEST_REDIS_DB
from tests.support.services import Services


def _published(
    job_id: uuid.UUID, seq: int, kind: str = "progress", status: JobStatus = JobStatus.PROCESSING
) -> Published:
    event = ProgressEvent.model_validate(
        {
            "type": kind,
            "seq": seq,
            "job_id": job_id,
            "status": status,
            "stage": JobStage.DOWNLOADING,
            "progress": min(seq / 1000, 100.0),
            "at": dt.datetime.now(dt.UTC),
        }
    )
    return Published(event, event.model_dump_json())


async def test_a_mailbox_nobody_drains_stays_bounded_and_keeps_the_latest_state() -> None:
    job, other = uuid.uuid4(), uuid.uuid4()
    mailbox = Mailbox(capacity=16)

    for seq in range(1, 100_001):
        mailbox.put(_published(job if seq % 2 else other, seq))
        if seq % 10_000 == 0:
            mailbox.put(_published(job, seq, kind="stage"))
        assert len(mailbox) <= 16

    pending = await mailbox.take(within=0)
    assert mailbox.closing is None
    stages = [p.event.seq for p in pending if p.event.type == "stage"]
    assert stages == [n * 10_000 for n in range(1, 11)], "stage events are never coalesced"
    latest = {p.event.job_id: p.event.seq for p in pending if p.event.type == "progress"}
    assert latest == {job: 99_999, other: 100_000}, "each job's progress coalesced to its latest"
    seqs = [p.event.seq for p in pending]
    assert seqs == sorted(seqs), "what is sent stays in order"


async def test_a_mailbox_full_of_events_it_may_not_drop_ends_with_overflow() -> None:
    mailbox = Mailbox(capacity=8)
    job = uuid.uuid4()
    for seq in range(1, 10):
        mailbox.put(_published(job, seq, kind="status"))

    assert mailbox.closing is Closing.OVERFLOW
    assert len(mailbox) == 0, "an ended mailbox frees what it held"
    assert await mailbox.take(within=5) == [], "an ended mailbox wakes its stream at once"


async def test_the_hub_hands_each_event_to_its_jobs_watchers_only(services: Services) -> None:
    hub = ProgressHub(
        f"{services.redis_url}/{TEST_REDIS_DB}", capacity=8, going_away=asyncio.Event()
    )
    with pytest.raises(StreamUnavailable), hub.watch(uuid.uuid4()):  # not subscribed yet
        pass
    hub.start()
    try:
        assert await hub.wait_subscribed(within=10)
        watched, other = uuid.uuid4(), uuid.uuid4()
        with hub.watch(watched) as first, hub.watch(watched) as second, hub.watch(other) as third:
            message = _published(watched, 1)
            hub.dispatch(events_channel(watched).encode(), message.text.encode())
            hub.dispatch(b"yds:job:not-a-uuid:events", b"{}")
            got = [await box.take(within=1) for box in (first, second)]
            assert [[p.event.seq for p in batch] for batch in got] == [[1], [1]]
            assert got[0][0].text is got[1][0].text, "one decoded copy, shared"
            assert await third.take(within=0) == []
        assert hub.watchers() == 0, "a stream that ended leaves nothing behind"
    finally:
        await hub.stop()
