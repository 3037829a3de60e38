"""When a download is followed by speech recognition, and what it leaves for it: the runner
with real yt-dlp and ffmpeg against the offline YouTube, in this process (no recognition
here: tests/downloads/test_transcription*.py run it)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from app.core.config import Settings
from app.downloads.engine.progress import ProgressTracker
from app.downloads.engine.runner import DownloadResult, YtDlpRunner
from app.downloads.engine.speech import ASR_DIR, read_handoff
from app.downloads.schemas import JobOptions
from app.jobs.events import ProgressEvent
from app.jobs.models import FileKind
from tests.support.offline_youtube import LADDER_VIDEO_ID, STANDARD_VIDEO_ID, OfflineYouTube


def run(
    youtube: OfflineYouTube, tmp_path: Path, video_id: str, *, asr: bool = True, **options: Any
) -> tuple[DownloadResult, Path, list[ProgressEvent]]:
    settings = Settings(
        _env_file=None,
        subtitle_sleep_seconds=0,
        allow_private_networks=True,
        asr_enabled=asr,
        asr_model="/srv/models/whisper" if asr else "",
    )
    events: list[ProgressEvent] = []
    runner = YtDlpRunner(
        settings=settings,
        tracker=ProgressTracker(uuid.uuid4(), publish=events.append),
        check_stop=lambda: None,
        on_metadata=lambda fields: None,
    )
    workdir = tmp_path / uuid.uuid4().hex
    options = {"include_thumbnail": False, "quality": "worst", **options}
    result = runner.run(youtube.video_url(video_id), JobOptions.model_validate(options), workdir)
    return result, workdir, events


def test_a_transcript_only_job_without_captions_leaves_only_the_audio_for_recognition(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result, workdir, events = run(
        youtube_in_process, tmp_path, LADDER_VIDEO_ID, transcript_only=True, transcribe="missing"
    )
    assert result.recognition
    assert not [f for f in result.files if f.kind in (FileKind.VIDEO, FileKind.AUDIO)]
    handoff = read_handoff(workdir)
    assert handoff is not None and handoff.language == "en" and handoff.captions == {}
    assert (workdir / ASR_DIR / handoff.audio).stat().st_size > 0
    assert max(event.progress for event in events) <= 50, "the rest of the bar is recognition's"


def test_a_media_job_keeps_its_media_and_links_it_for_recognition(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result, workdir, _ = run(youtube_in_process, tmp_path, LADDER_VIDEO_ID, transcribe="always")
    [media] = result.media
    handoff = read_handoff(workdir)
    assert result.recognition and handoff is not None
    assert (workdir / ASR_DIR / handoff.audio).samefile(media.path)


def test_missing_with_captions_in_the_asked_language_recognises_nothing(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result, workdir, _ = run(
        youtube_in_process, tmp_path, STANDARD_VIDEO_ID, transcript_only=True, transcribe="missing"
    )
    assert not result.recognition
    assert not (workdir / ASR_DIR).exists()


def test_always_hands_the_caption_cues_over_for_the_library(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result, workdir, _ = run(
        youtube_in_process, tmp_path, STANDARD_VIDEO_ID, transcript_only=True, transcribe="always"
    )
    handoff = read_handoff(workdir)
    assert result.recognition and handoff is not None
    assert set(handoff.captions) == {"en"}
    assert [c.text for c in handoff.captions["en"]] == [c.text for c in result.transcripts["en"]]


def test_never_says_why_an_asked_language_has_no_transcript(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    result, _, _ = run(
        youtube_in_process, tmp_path, LADDER_VIDEO_ID, transcript_only=True, transcribe="never"
    )
    [warning] = result.details["transcripts"]["warnings"]
    assert (warning["code"], warning["language"]) == ("asr_not_requested", "en")
    assert not result.recognition


def test_a_worker_without_asr_completes_a_job_that_asked_for_it_with_a_warning(
    youtube_in_process: OfflineYouTube, tmp_path: Path
) -> None:
    """Accepted while the API had ASR on; the worker's server has it off: nothing is handed
    to a transcription worker that may not exist."""
    result, workdir, _ = run(
        youtube_in_process, tmp_path, LADDER_VIDEO_ID, asr=False, transcribe="missing"
    )
    assert not result.recognition and not (workdir / ASR_DIR).exists()
    assert len(result.media) == 1
    [warning] = result.details["transcripts"]["warnings"]
    assert warning["code"] == "asr_failed" and "ASR_ENABLED" in warning["message"]
