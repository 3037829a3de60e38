"""A transcription worker's side, in this process with the real tiny.en model: a job the
download handed over gets its recognised track and completes; a broken model or workers
lost too often complete it with its media and `asr_failed`; the reconciler never loses nor
fails a transcribing job."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from app.core.config import Settings
from app.core.database import create_sync_engine, session_scope, sync_sessionmaker
from app.downloads import pipeline, reconciler, repository, transcription
from app.downloads.engine.speech import Handoff, keep_audio, write_handoff
from app.jobs.models import FileKind, Job, JobFile, JobStage, JobStatus
from app.library.models import LibraryEntry
from app.storage.base import build_key
from app.storage.local import LocalStorageHandler
from app.transcripts.cues import Cue
from app.worker.context import WorkerContext
from tests.support.factories import create_job
from tests.support.speech import SCRIPT, SpokenClip, spoken_clip, tiny_model, word_error_rate

VIDEO_ID = "spokenClip1"
LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)


class Enqueued(list[uuid.UUID]):
    def __call__(self, job_id: uuid.UUID, countdown: float, priority: str = "normal") -> None:
        self.append(job_id)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> SpokenClip:
    return spoken_clip(tmp_path_factory.mktemp("spoken"))


@pytest.fixture
def downloads() -> Enqueued:
    return Enqueued()


@pytest.fixture
def recognitions() -> Enqueued:
    return Enqueued()


def worker_ctx(
    settings: Settings, tmp_path: Path, downloads: Enqueued, recognitions: Enqueued, **asr: Any
) -> WorkerContext:
    asr_settings = {
        "asr_enabled": True,
        "asr_model": str(tiny_model()),
        "asr_cpu_threads": 2,
        **asr,
    }
    return WorkerContext(
        settings=settings.model_copy(update=asr_settings),
        sessions=sync_sessionmaker(create_sync_engine(settings.database_url)),
        redis=redis.Redis.from_url(settings.redis_url),
        storage=LocalStorageHandler(tmp_path / "store"),
        enqueue=downloads,
        enqueue_transcription=recognitions,
    )


@pytest.fixture
def ctx(
    settings: Settings, tmp_path: Path, downloads: Enqueued, recognitions: Enqueued
) -> WorkerContext:
    return worker_ctx(settings, tmp_path, downloads, recognitions)


def handed_over(
    ctx: WorkerContext,
    clip: SpokenClip,
    *,
    captions: dict[str, list[Cue]] | None = None,
    summary: dict[str, Any] | None = None,
    **fields: Any,
) -> uuid.UUID:
    """A job as a download leaves it for recognition: processing, transcribing, its video
    stored and recorded, the audio and hand-off in its work directory."""
    row: dict[str, Any] = {
        "status": JobStatus.PROCESSING,
        "stage": JobStage.TRANSCRIBING,
        "heartbeat_at": dt.datetime.now(dt.UTC),
        "started_at": dt.datetime.now(dt.UTC),
        "video_id": VIDEO_ID,
        "progress": 50.0,
        "details": {
            "transcripts": summary or {"languages": [], "unavailable": ["en"], "warnings": []}
        },
        **fields,
    }
    job_id = create_job(
        ctx.sessions, options={"transcribe": "missing", "subtitle_formats": ["srt", "txt"]}, **row
    )
    workdir = ctx.settings.work_dir / str(job_id)
    workdir.mkdir(parents=True)
    video = workdir / f"{VIDEO_ID}.mp4"
    shutil.copyfile(clip.video, video)
    audio = keep_audio(video, workdir, move=False)
    write_handoff(workdir, Handoff(audio=audio, language="en", captions=captions or {}))
    stored = ctx.storage.store(video, build_key(str(job_id), video.name))
    with session_scope(ctx.sessions) as session:
        session.add(
            JobFile(
                job_id=job_id,
                kind=FileKind.VIDEO,
                format="mp4",
                size=stored.size,
                sha256=stored.sha256,
                storage_key=stored.key,
            )
        )
    return job_id


def load(ctx: WorkerContext, job_id: uuid.UUID) -> Job:
    with session_scope(ctx.sessions) as session:
        job = session.scalar(select(Job).where(Job.id == job_id))
        assert job is not None
        session.expunge(job)
        return job


def library_text(ctx: WorkerContext, job_id: uuid.UUID) -> str:
    with session_scope(ctx.sessions) as session:
        entry = session.scalar(select(LibraryEntry).where(LibraryEntry.job_id == job_id))
        return entry.transcript if entry is not None else ""


def test_a_handed_over_job_gets_its_recognised_track_and_completes(
    ctx: WorkerContext, clip: SpokenClip
) -> None:
    job_id = handed_over(ctx, clip)
    transcription.run_transcription(ctx, job_id)

    job = load(ctx, job_id)
    assert job.status is JobStatus.COMPLETED and job.stage is None and job.progress == 100
    summary = job.details["transcripts"]
    assert summary["languages"] == [{"language": "en", "source": "asr", "formats": ["srt", "txt"]}]
    assert summary["unavailable"] == [] and summary["warnings"] == []
    kinds = sorted((f.kind.value, f.language, f.format) for f in job.files)
    assert kinds == [("subtitle", "en", "srt"), ("subtitle", "en", "txt"), ("video", None, "mp4")]
    text_file = next(f for f in job.files if f.format == "txt")
    text = ctx.storage.read(text_file.storage_key).decode()
    assert word_error_rate(SCRIPT, text) <= 0.3, text
    assert word_error_rate(SCRIPT, library_text(ctx, job_id)) <= 0.3, "searchable"
    assert not (ctx.settings.work_dir / str(job_id)).exists(), "the audio is not kept"
    # A redelivered message finds nothing to do.
    transcription.run_transcription(ctx, job_id)
    assert len(load(ctx, job_id).files) == 3


def test_always_keeps_the_caption_track_and_adds_the_recognised_one_beside_it(
    ctx: WorkerContext, clip: SpokenClip
) -> None:
    captions = {"en": [Cue(0.0, 2.0, "uploaded captions say bread")]}
    summary = {
        "languages": [{"language": "en", "source": "manual", "formats": ["srt", "txt"]}],
        "unavailable": [],
        "warnings": [],
    }
    job_id = handed_over(ctx, clip, captions=captions, summary=summary)
    transcription.run_transcription(ctx, job_id)

    job = load(ctx, job_id)
    sources = {t["language"]: t["source"] for t in job.details["transcripts"]["languages"]}
    assert sources == {"en": "manual", "en-x-asr": "asr"}
    assert {f.language for f in job.files if f.kind is FileKind.SUBTITLE} == {"en-x-asr"}
    indexed = library_text(ctx, job_id)
    assert "bread" in indexed and "good morning" in indexed.lower(), "both tracks searchable"


def test_a_broken_model_completes_the_job_with_its_media_and_asr_failed(
    settings: Settings,
    tmp_path: Path,
    downloads: Enqueued,
    recognitions: Enqueued,
    clip: SpokenClip,
) -> None:
    broken = worker_ctx(
        settings, tmp_path, downloads, recognitions, asr_model=str(tmp_path / "no-model")
    )
    job_id = handed_over(broken, clip)
    transcription.run_transcription(broken, job_id)

    job = load(broken, job_id)
    assert job.status is JobStatus.COMPLETED and job.error_code is None
    [warning] = job.details["transcripts"]["warnings"]
    assert warning["code"] == "asr_failed" and "not a model directory" in warning["message"]
    assert [f.kind for f in job.files] == [FileKind.VIDEO], "the media is kept"
    assert job.details["transcripts"]["unavailable"] == ["en"]


def test_a_job_whose_recognition_workers_keep_dying_completes_with_its_media(
    ctx: WorkerContext, clip: SpokenClip
) -> None:
    attempts = ctx.settings.max_attempts
    job_id = handed_over(ctx, clip, worker_id="dead:1", heartbeat_at=LONG_AGO, attempts=attempts)
    transcription.run_transcription(ctx, job_id)

    job = load(ctx, job_id)
    assert job.status is JobStatus.COMPLETED
    [warning] = job.details["transcripts"]["warnings"]
    assert warning["code"] == "asr_failed" and f"lost {attempts} times" in warning["message"]
    assert [f.kind for f in job.files] == [FileKind.VIDEO]


def test_the_reconciler_never_loses_nor_fails_a_transcribing_job(
    ctx: WorkerContext, clip: SpokenClip, downloads: Enqueued, recognitions: Enqueued
) -> None:
    waiting_its_turn = handed_over(ctx, clip, heartbeat_at=LONG_AGO)
    lost_message = handed_over(ctx, clip, heartbeat_at=LONG_AGO)
    dead_worker = handed_over(ctx, clip, worker_id="dead:1", heartbeat_at=LONG_AGO, attempts=1)
    hopeless = handed_over(
        ctx, clip, worker_id="dead:2", heartbeat_at=LONG_AGO, attempts=ctx.settings.max_attempts
    )
    canceled = handed_over(
        ctx, clip, worker_id="dead:3", heartbeat_at=LONG_AGO, attempts=1, cancel_requested=True
    )
    in_broker = {str(waiting_its_turn), str(dead_worker)}

    acted = reconciler.reconcile(ctx, queued_in_broker=in_broker)

    assert acted == 4
    assert sorted(recognitions) == sorted([lost_message, dead_worker])
    assert downloads == [], "a job with stored media is never downloaded again"
    for job_id in (waiting_its_turn, lost_message, dead_worker):
        job = load(ctx, job_id)
        assert (job.status, job.stage) == (JobStatus.PROCESSING, JobStage.TRANSCRIBING)
    assert load(ctx, lost_message).worker_id is None
    ended = load(ctx, hopeless)
    assert ended.status is JobStatus.COMPLETED and ended.error_code is None
    assert ended.details["transcripts"]["warnings"][0]["code"] == "asr_failed"
    assert [f.kind for f in ended.files] == [FileKind.VIDEO]
    assert load(ctx, canceled).status is JobStatus.CANCELED
    # A download worker given the job's id (a stale message) leaves it alone.
    pipeline.run_job(ctx, lost_message)
    assert load(ctx, lost_message).stage is JobStage.TRANSCRIBING
    # The re-sent recognition completes it.
    transcription.run_transcription(ctx, lost_message)
    assert load(ctx, lost_message).status is JobStatus.COMPLETED


def test_a_claim_is_taken_once(ctx: WorkerContext, clip: SpokenClip) -> None:
    job_id = handed_over(ctx, clip)
    with session_scope(ctx.sessions) as session:
        first = repository.claim_transcription(session, job_id, worker_id="a", lease_seconds=90)
        second = repository.claim_transcription(session, job_id, worker_id="b", lease_seconds=90)
    assert first is not None and first.attempts == 1 and second is None
