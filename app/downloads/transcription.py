"""Speech recognition of a job whose media is stored: what a transcription worker does
with a job id, and how a recognition that cannot happen still completes the job.

The download hands the job over (`repository.hand_over_for_transcription`): its files are
recorded, it stays `processing` in the `transcribing` stage, and its audio and hand-off
wait in its work directory (`engine.speech`). A transcription worker claims it with a
compare-and-set, recognises the audio with a lease thread renewing the heartbeat, writes
and stores the recognised track and completes the job. Whatever goes wrong with the
recognition (a broken model, unreadable audio, its workers lost again and again), the job
completes with its media and says why in its transcript summary (`asr_failed`).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Self

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from app.core import tracing
from app.core.config import Settings
from app.core.database import utcnow
from app.downloads import repository
from app.downloads.endings import Ending, JobEffects, RunFigures, end_job
from app.downloads.engine.options import track_style
from app.downloads.engine.speech import (
    ASR_DIR,
    Handoff,
    read_handoff,
    track_language,
)
from app.downloads.exceptions import HandBack, JobCanceled, LeaseLost
from app.downloads.families import worker_effects
from app.downloads.leases import Lease
from app.downloads.repository import ClaimedTranscription, held_by, transcribing
from app.downloads.schemas import JobOptions
from app.jobs import events
from app.jobs.models import FileKind, JobFile, JobStage, JobStatus
from app.storage.base import StorageUnavailable, build_key, media_type_for
from app.transcripts.conversion import write_track
from app.transcripts.cues import Cue
from app.transcripts.planning import CaptionSource
from app.transcripts.recognition import (
    Recognition,
    RecognitionError,
    Recognizer,
    RecognizerConfig,
)
from app.worker.context import WorkerContext, run_db

logger = logging.getLogger(__name__)

PUBLISH_INTERVAL_SECONDS = 0.5
ASR_FAILED = "asr_failed"


def recognizer_config(settings: Settings) -> RecognizerConfig:
    return RecognizerConfig(
        model=settings.asr_model,
        device=settings.asr_device.value,
        compute_type=settings.asr_compute_type,
        cpu_threads=settings.asr_cpu_threads,
        beam_size=settings.asr_beam_size,
        vad=settings.asr_vad,
        allow_download=settings.asr_model_download,
    )


@lru_cache(maxsize=1)
def _recognizer(config: RecognizerConfig) -> Recognizer:
    """One loaded model per process (a failed load is not cached: it raises)."""
    return Recognizer(config)


class _RecognitionLease(Lease):
    """The lease of a recognition: writes and publishes the recognition's share of the bar;
    past ASR_TIMEOUT the recognition stops (the job completes with its media)."""

    def __init__(self, ctx: WorkerContext, claimed: ClaimedTranscription, worker_id: str) -> None:
        super().__init__(ctx, claimed.id, worker_id, timeout=ctx.settings.asr_timeout)
        self._claimed = claimed
        self._start = claimed.progress
        self.progress = claimed.progress
        self._published_at = float("-inf")

    def __enter__(self) -> Self:
        self._publish("stage")
        return super().__enter__()

    def advance(self, fraction: float) -> None:
        """The share of the audio recognised: the rest of the bar after the download."""
        self.progress = max(self.progress, self._start + (100.0 - self._start) * fraction)
        now = time.monotonic()
        if now - self._published_at >= PUBLISH_INTERVAL_SECONDS:
            self._publish("progress")

    def timed_out(self) -> Exception:
        return RecognitionError(
            f"the recognition ran past ASR_TIMEOUT ({self._ctx.settings.asr_timeout} s)"
        )

    def progress_fields(self) -> dict[str, Any]:
        return {"progress": round(self.progress, 1)}

    def _publish(self, kind: str) -> None:
        self._published_at = time.monotonic()
        event = events.status_event(
            self._claimed.id,
            JobStatus.PROCESSING,
            round(self.progress, 1),
            parent_id=self._claimed.parent_id,
        )
        try:
            events.publish(
                self._ctx.redis,
                event.model_copy(update={"type": kind, "stage": JobStage.TRANSCRIBING}),
            )
        except Exception as exc:  # Redis down: watchers miss an event, the job goes on
            logger.warning("could not publish the progress of job %s: %s", self._claimed.id, exc)


def run_transcription(ctx: WorkerContext, job_id: uuid.UUID) -> None:
    """Recognise one handed-over job. Safe for any id, any number of times (redeliveries)."""
    worker_id = f"{ctx.worker_id}:{uuid.uuid4().hex[:8]}"
    claimed = run_db(ctx, repository.claim_transcription, job_id, worker_id=worker_id,
                     lease_seconds=ctx.settings.job_lease_seconds)  # fmt: skip
    if claimed is None:
        logger.info("job %s is not waiting for speech recognition; skipping", job_id)
        return
    workdir = ctx.settings.work_dir / str(job_id)
    handoff = read_handoff(workdir)
    if claimed.attempts > ctx.settings.max_attempts:
        reason = f"its recognition worker was lost {claimed.attempts - 1} times"
        complete_without_recognition(ctx, job_id, expected=held_by(worker_id), reason=reason)
        return
    try:
        with (
            _RecognitionLease(ctx, claimed, worker_id) as lease,
            tracing.span("transcription.recognise", job_id=job_id),
        ):
            files, track = _recognise(ctx, claimed, workdir, handoff, lease)
            lease.check()
        _complete(ctx, claimed, worker_id, files=files, track=track, handoff=handoff)
    except LeaseLost:
        logger.warning("job %s: lease lost during speech recognition; stopping", job_id)
    except HandBack:
        if run_db(ctx, repository.release_transcription, job_id, worker_id=worker_id):
            ctx.enqueue_transcription(job_id, 0)
            logger.info("job %s: speech recognition handed back for another worker", job_id)
    except JobCanceled:
        run_db(ctx, end_job, worker_effects(ctx), job_id, status=JobStatus.CANCELED,
               expected=held_by(worker_id))  # fmt: skip
        logger.info("job %s canceled during speech recognition", job_id)
    except (RecognitionError, StorageUnavailable, OSError) as exc:
        logger.warning("job %s: speech recognition failed: %s", job_id, exc)
        complete_without_recognition(ctx, job_id, expected=held_by(worker_id), reason=str(exc))
    except Exception as exc:
        logger.exception("job %s: speech recognition crashed", job_id)
        reason = f"unexpected error ({type(exc).__name__})"
        complete_without_recognition(ctx, job_id, expected=held_by(worker_id), reason=reason)


@dataclass(frozen=True)
class _Track:
    language: str
    formats: list[str]
    cues: list[Cue]
    recognised: Recognition


def _recognise(
    ctx: WorkerContext,
    claimed: ClaimedTranscription,
    workdir: Path,
    handoff: Handoff | None,
    lease: _RecognitionLease,
) -> tuple[list[JobFile], _Track]:
    if handoff is None:
        raise RecognitionError(
            "the downloaded audio is gone (the transcription worker must share WORK_DIR "
            "with the download workers)"
        )
    recognizer = _recognizer(recognizer_config(ctx.settings))
    recognition = recognizer.recognize(
        workdir / ASR_DIR / handoff.audio,
        language=handoff.language,
        on_progress=lease.advance,
        should_stop=lease.check,
    )
    if not recognition.cues:
        raise RecognitionError("no speech was recognised in the audio")
    options = JobOptions.model_validate(claimed.options)
    summary = _summary(run_db(ctx, repository.transcript_details, claimed.id))
    language = track_language(recognition.language, summary)
    out_dir = workdir / ASR_DIR / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    laid = write_track(
        recognition.cues,
        language=language,
        source=CaptionSource.ASR,
        out_dir=out_dir,
        video_id=claimed.video_id,
        style=track_style(options, ctx.settings, title=claimed.title, page_url=claimed.url),
    )
    files = [
        _store(ctx, claimed.id, out_dir / f"{claimed.video_id}.{language}.{fmt}", language)
        for fmt in options.subtitle_formats
    ]
    formats = [fmt.value for fmt in options.subtitle_formats]
    return files, _Track(language, formats, laid, recognition)


def _store(ctx: WorkerContext, job_id: uuid.UUID, path: Path, language: str) -> JobFile:
    fmt = path.suffix.lstrip(".")
    stored = ctx.storage.store(path, build_key(str(job_id), path.name),
                               media_type=media_type_for(fmt))  # fmt: skip
    return JobFile(
        kind=FileKind.SUBTITLE,
        language=language,
        format=fmt,
        size=stored.size,
        sha256=stored.sha256,
        storage_key=stored.key,
    )


def _summary(details: dict[str, Any]) -> dict[str, Any]:
    summary = copy.deepcopy(details.get("transcripts") or {})
    for name in ("languages", "unavailable", "warnings"):
        summary.setdefault(name, [])
    return summary


def _complete(
    ctx: WorkerContext,
    claimed: ClaimedTranscription,
    worker_id: str,
    *,
    files: list[JobFile],
    track: _Track,
    handoff: Handoff | None,
) -> None:
    def record(summary: dict[str, Any]) -> None:
        summary["languages"].append(
            {"language": track.language, "source": CaptionSource.ASR, "formats": track.formats}
        )
        # An asked "pt-BR" is answered by a recognised "pt" track.
        spoken = track.recognised.language
        summary["unavailable"] = [
            lang for lang in summary["unavailable"] if lang.split("-")[0].lower() != spoken
        ]

    captions = handoff.captions if handoff is not None else {}
    ending = run_db(
        ctx,
        _complete_job,
        worker_effects(ctx),
        claimed.id,
        expected=held_by(worker_id),
        update_summary=record,
        files=files,
        transcripts={**captions, track.language: track.cues},
        run=_run_figures(claimed, files),
    )
    if ending is None:
        logger.warning("job %s: lease lost before its recognised transcript was recorded",
                       claimed.id)  # fmt: skip
        return
    logger.info("job %s completed with a recognised %s transcript (%d cues)",
                claimed.id, track.language, len(track.cues))  # fmt: skip


def complete_without_recognition(
    ctx: WorkerContext, job_id: uuid.UUID, *, expected: ColumnElement[bool], reason: str
) -> bool:
    """Complete a job whose media is stored without a recognised transcript, recording
    why (`asr_failed`); False when the job was not as `expected`."""
    handoff = read_handoff(ctx.settings.work_dir / str(job_id))

    def record(summary: dict[str, Any]) -> None:
        language = (handoff.language if handoff else None) or ""
        summary["warnings"].append(
            {
                "code": ASR_FAILED,
                "language": language,
                "message": f"Speech recognition failed: {reason}. The job's media is kept.",
            }
        )

    ending = run_db(
        ctx,
        _complete_job,
        worker_effects(ctx),
        job_id,
        expected=and_(expected, transcribing()),
        update_summary=record,
        files=(),
        transcripts=handoff.captions if handoff else {},
        run=None,
    )
    if ending is not None:
        logger.info("job %s completed without a recognised transcript: %s", job_id, reason)
    return ending is not None


def _complete_job(
    session: Session,
    effects: JobEffects,
    job_id: uuid.UUID,
    *,
    expected: ColumnElement[bool],
    update_summary: Callable[[dict[str, Any]], None],
    files: Sequence[JobFile],
    transcripts: dict[str, list[Cue]],
    run: RunFigures | None,
) -> Ending | None:
    details = repository.transcript_details(session, job_id)
    summary = _summary(details)
    update_summary(summary)
    return end_job(
        session,
        effects,
        job_id,
        status=JobStatus.COMPLETED,
        expected=expected,
        fields={
            "details": {**details, "transcripts": summary},
            "progress": 100.0,
            "error_code": None,
            "error_message": None,
            "next_attempt_at": None,
        },
        files=files,
        transcripts=transcripts,
        run=run,
    )


def _run_figures(claimed: ClaimedTranscription, files: Sequence[JobFile]) -> RunFigures:
    duration = (utcnow() - claimed.started_at) / dt.timedelta(seconds=1)
    return RunFigures(
        duration=duration,
        downloaded_bytes=claimed.downloaded_bytes,
        stored_bytes=claimed.stored_bytes + sum(f.size for f in files),
    )
