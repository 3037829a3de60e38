"""Whether a download is followed by speech recognition, and what the download leaves in
its work directory for it: the audio and a small hand-off file (`asr/handoff.json`).

The recognition itself runs later on the transcription queue (`downloads.transcription`),
on a worker that shares WORK_DIR with the download's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.config import TranscribeMode
from app.downloads.schemas import JobOptions
from app.transcripts.cues import Cue
from app.transcripts.planning import TranscriptPlan

ASR_DIR = "asr"
HANDOFF_NAME = "handoff.json"
AUDIO_STEM = "audio"
# A track recognised beside a caption track of the same language takes this private-use
# subtag (BCP 47): "en" stays the captions, "en-x-asr" is ours.
ASR_LANGUAGE_SUFFIX = "-x-asr"


@dataclass
class Handoff:
    """What the transcription task needs from the download."""

    audio: str  # the file's name inside the job's asr/ directory
    language: str | None  # the asked language, else None (Whisper detects it)
    # The caption tracks the download wrote (language -> cues), for the library's index,
    # which is written again with the recognised track when the job completes.
    captions: dict[str, list[Cue]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "audio": self.audio,
            "language": self.language,
            "captions": {
                language: [[cue.start, cue.end, cue.text] for cue in cues]
                for language, cues in self.captions.items()
            },
        }

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> Handoff:
        captions = {
            language: [Cue(float(start), float(end), str(text)) for start, end, text in cues]
            for language, cues in (values.get("captions") or {}).items()
        }
        return cls(audio=str(values["audio"]), language=values.get("language"), captions=captions)


def asked_languages(options: JobOptions) -> list[str] | None:
    """The languages the job asked for; None for all."""
    return None if options.wants_all_languages else list(options.subtitle_languages)


def _covers_asked(options: JobOptions, languages: Sequence[str]) -> bool:
    asked = asked_languages(options)
    return bool(languages) if asked is None else any(lang in languages for lang in asked)


def audio_needed(options: JobOptions, plan: TranscriptPlan) -> bool:
    """Before the download: whether recognition is expected (so a transcript-only job
    fetches the audio, and the progress bar leaves room for it)."""
    if options.transcribe is TranscribeMode.ALWAYS:
        return True
    return options.transcribe is TranscribeMode.MISSING and not _covers_asked(
        options, plan.languages
    )


def recognition_wanted(options: JobOptions, summary: Mapping[str, Any]) -> bool:
    """After the captions were written: always, or missing and none of the asked
    languages got a transcript from them."""
    if options.transcribe is TranscribeMode.ALWAYS:
        return True
    written = [str(track["language"]) for track in summary.get("languages", [])]
    return options.transcribe is TranscribeMode.MISSING and not _covers_asked(options, written)


def language_hint(options: JobOptions) -> str | None:
    """The one asked language, else None: Whisper then detects what is spoken."""
    asked = asked_languages(options)
    if asked is None or len(asked) != 1:
        return None
    return asked[0].split("-")[0].lower()  # Whisper knows "pt", not "pt-BR"


def track_language(recognised: str, summary: Mapping[str, Any]) -> str:
    """The language code the recognised track is stored under: the spoken language, or
    `<lang>-x-asr` when the captions already gave a track in it (never overwritten)."""
    taken = {str(track["language"]) for track in summary.get("languages", [])}
    return recognised if recognised not in taken else f"{recognised}{ASR_LANGUAGE_SUFFIX}"


def keep_audio(source: Path, workdir: Path, *, move: bool) -> str:
    """Put the audio for recognition into `workdir/asr/` (moved, or linked when the file
    is about to be stored: storage moves it away). Returns its name there."""
    target_dir = workdir / ASR_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{AUDIO_STEM}{source.suffix}"
    target.unlink(missing_ok=True)
    if move:
        source.replace(target)
    else:
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)  # another file system
    return target.name


def write_handoff(workdir: Path, handoff: Handoff) -> None:
    target_dir = workdir / ASR_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / HANDOFF_NAME).write_text(json.dumps(handoff.to_json()), encoding="utf-8")


def read_handoff(workdir: Path) -> Handoff | None:
    """None when the hand-off is gone (another host's work directory, or swept)."""
    try:
        values = json.loads((workdir / ASR_DIR / HANDOFF_NAME).read_text(encoding="utf-8"))
        return Handoff.from_json(values)
    except (OSError, ValueError, KeyError, TypeError):
        return None
