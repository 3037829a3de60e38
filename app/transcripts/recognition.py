"""Speech recognition of an audio (or video) file with faster-whisper: the spoken language
and cues with word timings, ready for `conversion.write_track(source=CaptionSource.ASR)`.

Pure: it knows nothing of jobs, queues or storage. faster-whisper is imported when a
recognizer is built, so processes that never recognise speech do not load it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.transcripts.cues import Cue, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

logger = logging.getLogger(__name__)

# Called with the share of the audio recognised so far (0 to 1).
ProgressCallback = Callable[[float], None]


class RecognitionError(Exception):
    """The model could not be loaded or the audio could not be recognised."""


@dataclass(frozen=True)
class RecognizerConfig:
    """How to run Whisper (the ASR_* settings)."""

    model: str  # a model directory, or a model name
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    beam_size: int = 5
    vad: bool = False
    allow_download: bool = False  # a model name may be fetched from the hub

    @property
    def model_is_path(self) -> bool:
        # A hub name may hold a slash too ("Systran/faster-whisper-small").
        return self.model.startswith(("/", ".", "~")) or Path(self.model).is_dir()


@dataclass(frozen=True)
class Recognition:
    language: str  # what was spoken (or asked for), as Whisper names it: "en", "de", ...
    language_probability: float
    duration: float  # seconds of audio
    cues: list[Cue]


class Recognizer:
    """One loaded model; `recognize` may be called many times."""

    def __init__(self, config: RecognizerConfig) -> None:
        self.config = config
        self._model = _load_model(config)

    def recognize(
        self,
        audio: Path,
        *,
        language: str | None = None,
        on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], None] | None = None,
    ) -> Recognition:
        """Recognise `audio`; `language` skips detection. `should_stop` is called after each
        segment and may raise to abandon the work."""
        if not audio.is_file():
            raise RecognitionError(f"the audio file {audio.name} is missing")
        try:
            segments, info = self._model.transcribe(
                str(audio),
                language=language,
                beam_size=self.config.beam_size,
                word_timestamps=True,
                vad_filter=self.config.vad,
                condition_on_previous_text=False,
            )
            cues = _cues(segments, info.duration, on_progress, should_stop)
        except RecognitionError:
            raise
        except (OSError, ValueError, RuntimeError) as exc:
            # PyAV's errors (an undecodable file) derive from these too.
            raise RecognitionError(f"the audio could not be recognised: {exc}") from exc
        if on_progress is not None:
            on_progress(1.0)
        return Recognition(
            language=info.language,
            language_probability=float(info.language_probability),
            duration=float(info.duration),
            cues=cues,
        )


def _load_model(config: RecognizerConfig) -> WhisperModel:
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:  # pragma: no cover - a runtime dependency
        raise RecognitionError("faster-whisper is not installed") from exc
    if config.model_is_path and not Path(config.model).is_dir():
        raise RecognitionError(f"ASR_MODEL {config.model!r} is not a model directory")
    try:
        return WhisperModel(
            config.model,
            device=config.device,
            compute_type=config.compute_type,
            cpu_threads=config.cpu_threads,
            # A name resolves from the local cache only, unless downloads are allowed.
            local_files_only=not config.allow_download,
        )
    except Exception as exc:
        # huggingface_hub's and CTranslate2's errors have no common base worth naming.
        raise RecognitionError(f"the speech model could not be loaded: {exc}") from exc


def _cues(
    segments: Iterable[Any],
    duration: float,
    on_progress: ProgressCallback | None,
    should_stop: Callable[[], None] | None,
) -> list[Cue]:
    """One cue per segment, its words kept (with their leading spaces)."""
    cues: list[Cue] = []
    for segment in segments:  # a generator: the recognition happens while iterating
        words = tuple(
            Word(float(word.start), float(word.end), str(word.word))
            for word in segment.words or ()
            if str(word.word).strip()
        )
        text = "".join(word.text for word in words).strip() or str(segment.text).strip()
        if text:
            cues.append(Cue(float(segment.start), float(segment.end), text, words))
        if on_progress is not None and duration > 0:
            on_progress(min(float(segment.end) / duration, 1.0))
        if should_stop is not None:
            should_stop()
    return cues
