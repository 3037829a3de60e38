"""Speech recognition with the real Whisper tiny.en model on speech espeak-ng says: the
words follow the script, with timings, and what cannot be recognised is one error type."""

from __future__ import annotations

import subprocess
from itertools import pairwise
from pathlib import Path

import pytest

from app.transcripts.conversion import write_track
from app.transcripts.planning import CaptionSource
from app.transcripts.recognition import RecognitionError, Recognizer, RecognizerConfig
from app.transcripts.schemas import SubtitleFormat
from tests.support.speech import SCRIPT, speak, spoken_clip, tiny_model, word_error_rate


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(RecognizerConfig(model=str(tiny_model()), cpu_threads=2))


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = spoken_clip(tmp_path_factory.mktemp("speech"))
    return clip.video.parent


def test_the_words_follow_the_script_with_monotonic_timings(
    recognizer: Recognizer, clip_dir: Path
) -> None:
    shares: list[float] = []
    result = recognizer.recognize(clip_dir / "18.mp4", on_progress=shares.append)

    assert result.language == "en"
    text = " ".join(cue.text for cue in result.cues)
    assert word_error_rate(SCRIPT, text) <= 0.3, text
    words = [word for cue in result.cues for word in cue.words]
    assert len(words) >= 20
    assert all(word.text.startswith(" ") for word in words), "the recognizer's leading spaces"
    assert all(word.start <= word.end for word in words)
    assert all(a.start <= b.start for a, b in pairwise(words))
    assert 0 < words[-1].end <= result.duration + 0.5
    assert shares == sorted(shares) and shares[-1] == 1.0


def test_the_recognised_track_is_written_like_any_other(
    recognizer: Recognizer, clip_dir: Path, tmp_path: Path
) -> None:
    result = recognizer.recognize(clip_dir / "140.m4a", language="en")
    written = write_track(
        result.cues,
        language="en",
        source=CaptionSource.ASR,
        out_dir=tmp_path,
        video_id="spoken",
        formats=list(SubtitleFormat),
    )
    assert written
    srt = (tmp_path / "spoken.en.srt").read_text()
    assert srt.startswith("1\n00:00:0")
    # The written text, not a phrase of it: tiny.en's exact words vary with the machine's
    # speech synthesizer build (one heard "have a nice day" as "have an eye stay").
    txt = (tmp_path / "spoken.en.txt").read_text()
    assert word_error_rate(SCRIPT, txt) <= 0.3, txt


def test_with_voice_activity_detection_the_silence_is_skipped(tmp_path: Path) -> None:
    speech = speak(SCRIPT, tmp_path / "speech.wav")
    padded = tmp_path / "padded.wav"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(speech),
         "-af", "adelay=8s:all=1,apad=pad_dur=8", str(padded)],
        check=True, capture_output=True,
    )  # fmt: skip
    with_vad = Recognizer(RecognizerConfig(model=str(tiny_model()), cpu_threads=2, vad=True))
    result = with_vad.recognize(padded, language="en")
    text = " ".join(cue.text for cue in result.cues)
    assert word_error_rate(SCRIPT, text) <= 0.3, text
    assert result.cues[0].start >= 7.0, "the words keep their time in the padded audio"


def test_a_stop_request_abandons_the_recognition(recognizer: Recognizer, tmp_path: Path) -> None:
    long_speech = speak(" ".join([SCRIPT] * 4), tmp_path / "long.wav")

    def stop() -> None:
        raise Stop()

    with pytest.raises(Stop):
        recognizer.recognize(long_speech, should_stop=stop)


def test_what_cannot_be_recognised_raises_one_error(recognizer: Recognizer, tmp_path: Path) -> None:
    with pytest.raises(RecognitionError, match="missing"):
        recognizer.recognize(tmp_path / "nothing.wav")
    garbage = tmp_path / "garbage.m4a"
    garbage.write_bytes(b"this is not audio" * 100)
    with pytest.raises(RecognitionError, match="could not be recognised"):
        recognizer.recognize(garbage)


def test_a_broken_model_path_or_an_unknown_name_fails_without_any_download(
    tmp_path: Path,
) -> None:
    with pytest.raises(RecognitionError, match="not a model directory"):
        Recognizer(RecognizerConfig(model=str(tmp_path / "no-such-model")))
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(RecognitionError, match="could not be loaded"):
        Recognizer(RecognizerConfig(model=str(empty)))
    # A name resolves from the local cache only: nothing is fetched from the hub.
    with pytest.raises(RecognitionError, match="could not be loaded"):
        Recognizer(RecognizerConfig(model="no-such-model-name-xyz"))
