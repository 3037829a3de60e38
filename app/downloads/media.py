"""ffprobe checks on finished media (ffmpeg-python), so a corrupt file is never completed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ffmpeg

DURATION_TOLERANCE_SECONDS = 1.0


@dataclass(frozen=True)
class MediaReport:
    container: str | None
    duration: float | None
    video_codecs: tuple[str, ...]
    audio_codecs: tuple[str, ...]
    error: str | None = None

    def problem(
        self, *, expect_video: bool, expect_audio: bool, expected_duration: float | None
    ) -> str | None:
        if self.error:
            return self.error
        if expect_video and not self.video_codecs:
            return "no video stream"
        if expect_audio and not self.audio_codecs:
            return "no audio stream"
        if self.duration is None or self.duration <= 0:
            return "no duration"
        if (
            expected_duration
            and abs(self.duration - expected_duration) > DURATION_TOLERANCE_SECONDS
        ):
            return (
                f"duration {self.duration:.2f}s differs from the source's {expected_duration:.2f}s"
            )
        return None


def probe_media(path: Path) -> MediaReport:
    try:
        data = ffmpeg.probe(str(path))
    except ffmpeg.Error as exc:
        stderr = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return MediaReport(
            None, None, (), (), error=f"ffprobe failed: {stderr[-1] if stderr else exc}"
        )
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    duration = fmt.get("duration")
    return MediaReport(
        container=fmt.get("format_name"),
        duration=float(duration) if duration else None,
        video_codecs=tuple(
            s.get("codec_name", "")
            for s in streams
            if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
        ),
        audio_codecs=tuple(
            s.get("codec_name", "") for s in streams if s.get("codec_type") == "audio"
        ),
    )
