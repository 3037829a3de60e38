"""ffmpeg and ffprobe (through ffmpeg-python) on finished media: the final container, embedded
subtitles, and the check that keeps a corrupt file from ever being marked completed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

DURATION_TOLERANCE_SECONDS = 1.0
POLL_SECONDS = 0.25

# Codecs each container holds natively (ffprobe names); anything else is re-encoded.
CONTAINER_CODECS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "mp4": (frozenset({"h264", "hevc", "av1", "vp9"}), frozenset({"aac", "mp3", "alac", "ac3"})),
    "webm": (frozenset({"vp8", "vp9", "av1"}), frozenset({"opus", "vorbis"})),
}
ENCODERS = {"mp4": ("libx264", "aac"), "webm": ("libvpx-vp9", "libopus")}
SUBTITLE_CODECS = {"mp4": "mov_text", "webm": "webvtt", "mkv": "srt"}
# ffprobe's format_name for each file extension we produce.
FORMAT_NAMES = {
    "mp4": "mp4",
    "m4a": "mp4",
    "webm": "webm",
    "mkv": "matroska",
    "mp3": "mp3",
    "wav": "wav",
    "flac": "flac",
    "opus": "ogg",
}
StopCheck = Callable[[], None]


class MediaError(Exception):
    """ffmpeg could not produce the result."""


@dataclass(frozen=True)
class MediaReport:
    container: str | None
    duration: float | None
    video_codecs: tuple[str, ...]
    audio_codecs: tuple[str, ...]
    subtitle_streams: int = 0
    height: int | None = None
    stream_durations: tuple[float, ...] = ()
    error: str | None = None

    def problem(
        self,
        *,
        extension: str,
        expect_video: bool,
        expect_audio: bool,
        expected_duration: float | None,
    ) -> str | None:
        """Why the file is not what was asked for, or None when it is."""
        if self.error:
            return self.error
        container = FORMAT_NAMES.get(extension)
        if container and container not in (self.container or "").split(","):
            return f"container is {self.container}, expected {extension}"
        if extension == "webm" and not _webm_codecs(self):
            return "codecs are not valid in webm"
        if expect_video and not self.video_codecs:
            return "no video stream"
        if not expect_video and self.video_codecs:
            return "a video stream in an audio file"
        if expect_audio and not self.audio_codecs:
            return "no audio stream"
        if self.duration is None or self.duration <= 0:
            return "no duration"
        if not expected_duration:
            return None
        # Each stream too, not only the file: a truncated video part merged with a whole
        # audio part still gives a file as long as the source.
        for duration in (self.duration, *self.stream_durations):
            if abs(duration - expected_duration) > DURATION_TOLERANCE_SECONDS:
                return (
                    f"duration {duration:.2f}s differs from the source's {expected_duration:.2f}s"
                )
        return None


def _webm_codecs(report: MediaReport) -> bool:
    video_ok, audio_ok = CONTAINER_CODECS["webm"]
    return set(report.video_codecs) <= video_ok and set(report.audio_codecs) <= audio_ok


def probe_media(path: Path) -> MediaReport:
    try:
        data = ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        lines = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return MediaReport(
            None, None, (), (), error=f"ffprobe failed: {lines[-1] if lines else exc}"
        )
    streams: list[dict[str, Any]] = data.get("streams", [])
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    duration = data.get("format", {}).get("duration")
    return MediaReport(
        container=data.get("format", {}).get("format_name"),
        duration=float(duration) if duration else None,
        video_codecs=tuple(s.get("codec_name", "") for s in video),
        audio_codecs=tuple(
            s.get("codec_name", "") for s in streams if s.get("codec_type") == "audio"
        ),
        subtitle_streams=sum(1 for s in streams if s.get("codec_type") == "subtitle"),
        height=int(video[0]["height"]) if video and video[0].get("height") else None,
        stream_durations=tuple(
            duration
            for stream in [*video, *(s for s in streams if s.get("codec_type") == "audio")]
            if (duration := _seconds(stream))
        ),
    )


def _seconds(stream: dict[str, Any]) -> float | None:
    """A stream's duration: its own field (mp4) or its DURATION tag (matroska)."""
    if stream.get("duration"):
        return float(stream["duration"])
    tag = (stream.get("tags") or {}).get("DURATION")
    if not tag:
        return None
    hours, minutes, seconds = tag.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def needs_finalizing(path: Path, target: str, *, subtitles: Sequence[Path]) -> bool:
    return path.suffix.lstrip(".") != target or bool(subtitles)


def finalize_video(
    path: Path, target: str, *, subtitles: Sequence[Path], check_stop: StopCheck
) -> Path:
    """Put the video into the `target` container: copy the streams it holds natively,
    re-encode the others, and embed `subtitles` as text tracks. Returns the new file."""
    report = probe_media(path)
    if report.error:
        raise MediaError(report.error)
    vcodec, acodec = _codecs_for(report, target)
    output = path.with_name(f"{path.stem}.final.{target}")
    media = ffmpeg.input(str(path))
    streams = [media["v:0"], media["a?"]] if report.audio_codecs else [media["v:0"]]
    options: dict[str, Any] = {"vcodec": vcodec, "map_metadata": 0}
    if report.audio_codecs:
        options["acodec"] = acodec
    if subtitles:
        streams += [ffmpeg.input(str(sub))["s:0"] for sub in subtitles]
        options["scodec"] = SUBTITLE_CODECS[target]
        for index, sub in enumerate(subtitles):
            # "<id>.<lang>.srt": the language tag helps players label the track.
            options[f"metadata:s:s:{index}"] = f"title={sub.name.split('.')[-2]}"
    if target == "mp4":
        options["movflags"] = "+faststart"
    _run(ffmpeg.output(*streams, str(output), **options).overwrite_output(), check_stop)
    path.unlink()
    final = path.with_suffix(f".{target}")
    output.replace(final)
    return final


AUDIO_ENCODERS = {"mp3": "libmp3lame", "m4a": "aac", "opus": "libopus"}
# A source already in the asked codec is copied by yt-dlp; re-encode it only when its
# bitrate is clearly above the one asked for.
BITRATE_SLACK = 1.25


def audio_bitrate(path: Path) -> int | None:
    """Bits per second of the first audio stream (or of the whole file)."""
    data: dict[str, Any] = ffmpeg.probe(str(path))
    streams: list[dict[str, Any]] = data.get("streams", [])
    audio = next((s for s in streams if s.get("codec_type") == "audio"), {})
    rate = audio.get("bit_rate") or data.get("format", {}).get("bit_rate")
    return int(rate) if rate else None


def limit_audio_bitrate(path: Path, kbps: int, *, check_stop: StopCheck) -> None:
    """Re-encode `path` in place at `kbps` when it is well above that bitrate."""
    encoder = AUDIO_ENCODERS.get(path.suffix.lstrip("."))
    current = audio_bitrate(path)
    if encoder is None or current is None or current <= kbps * 1000 * BITRATE_SLACK:
        return
    output = path.with_name(f"{path.stem}.bitrate{path.suffix}")
    extra = {"vbr": "constrained"} if encoder == "libopus" else {}  # opus VBR overshoots
    stream = ffmpeg.output(
        ffmpeg.input(str(path)),
        str(output),
        acodec=encoder,
        audio_bitrate=f"{kbps}k",
        vn=None,
        map_metadata=0,
        **extra,
    )
    _run(stream.overwrite_output(), check_stop)
    output.replace(path)


def _codecs_for(report: MediaReport, target: str) -> tuple[str, str]:
    if target not in CONTAINER_CODECS:
        return "copy", "copy"  # matroska holds everything
    video_ok, audio_ok = CONTAINER_CODECS[target]
    video_encoder, audio_encoder = ENCODERS[target]
    vcodec = "copy" if set(report.video_codecs) <= video_ok else video_encoder
    acodec = "copy" if set(report.audio_codecs) <= audio_ok else audio_encoder
    return vcodec, acodec


def _run(stream: Any, check_stop: StopCheck) -> None:
    """Run ffmpeg, polling `check_stop` so a cancel also stops a long re-encode."""
    quiet = stream.global_args("-nostdin", "-nostats", "-loglevel", "error")
    process: subprocess.Popen[bytes] = quiet.run_async(pipe_stdout=False, pipe_stderr=True)
    try:
        while True:
            check_stop()
            try:
                # Returns as ffmpeg ends, not at the next tick of the stop checks.
                process.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        process.kill()
        process.wait()
        raise
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        last_line = (
            stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {process.returncode}"
        )
        raise MediaError(f"ffmpeg failed: {last_line}")
