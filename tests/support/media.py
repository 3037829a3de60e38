"""Generate the fixture media files with the ffmpeg CLI and cache them on disk.

Everything lands in ``tests/.media-cache/<VERSION>/``. Generation happens in a temporary
directory that is renamed into place only when complete, under a file lock, so concurrent
test processes never see (or produce) a half-written cache. Bump ``VERSION`` whenever a
recipe changes.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

VERSION = "v1"
DEFAULT_CACHE_ROOT = Path(__file__).resolve().parent.parent / ".media-cache"
MANIFEST_NAME = "manifest.json"

STANDARD_DURATION = 20
STANDARD_FPS = 15
SLOW_DURATION = 8
SLOW_VIDEO_KBPS = 3600
LADDER_DURATION = 2
LADDER_FPS = 5

# (itag, width, height) of YouTube's avc1 video-only DASH formats.
LADDER_RUNGS: tuple[tuple[str, int, int], ...] = (
    ("160", 256, 144),
    ("133", 426, 240),
    ("134", 640, 360),
    ("135", 854, 480),
    ("136", 1280, 720),
    ("137", 1920, 1080),
    ("264", 2560, 1440),
    ("266", 3840, 2160),
)

# YouTube thumbnail names with their sizes, worst to best.
THUMBNAILS: tuple[tuple[str, int, int], ...] = (
    ("default", 120, 90),
    ("mqdefault", 320, 180),
    ("hqdefault", 480, 360),
)
LADDER_THUMBNAILS: tuple[tuple[str, int, int], ...] = (*THUMBNAILS, ("maxresdefault", 1280, 720))

_FFMPEG = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y")
# Fragmented MP4, like the DASH files YouTube serves for video-only and audio-only itags.
_DASH = ("-movflags", "+frag_keyframe+empty_moov+default_base_moof")
_H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "main", "-pix_fmt", "yuv420p")


@dataclass(frozen=True)
class MediaFile:
    """ffprobe facts about one generated file; codecs use yt-dlp/YouTube notation."""

    name: str
    size: int
    duration: float
    width: int | None
    height: int | None
    fps: float | None
    vcodec: str
    acodec: str
    tbr: float
    asr: int | None
    audio_channels: int | None


@dataclass(frozen=True)
class MediaSet:
    """A complete, cached set of fixture media files."""

    root: Path
    files: Mapping[str, MediaFile]
    generation_seconds: float

    def path(self, name: str) -> Path:
        """Absolute path of the file called ``name`` (e.g. ``"standard/134.mp4"``)."""
        if name not in self.files:
            raise KeyError(name)
        return self.root / name

    def __getitem__(self, name: str) -> MediaFile:
        return self.files[name]


@dataclass(frozen=True)
class _Job:
    name: str
    args: tuple[str, ...]


def _job(name: str, *parts: str | tuple[str, ...]) -> _Job:
    args: list[str] = []
    for part in parts:
        args.extend((part,) if isinstance(part, str) else part)
    return _Job(name, tuple(args))


def _lavfi(graph: str) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", graph)


def _video(size: str, fps: int, seconds: int, extra: str = "") -> tuple[str, ...]:
    return _lavfi(f"testsrc2=size={size}:rate={fps}:duration={seconds}{extra}")


def _tone(seconds: int, rate: int) -> tuple[str, ...]:
    # The periodic beep makes audio/video sync problems audible when inspecting by hand.
    return _lavfi(f"sine=frequency=440:beep_factor=4:sample_rate={rate}:duration={seconds}")


def _aac(name: str, seconds: int) -> _Job:
    return _job(name, _tone(seconds, 44100), "-ac", "2", "-c:a", "aac", "-b:a", "128k", _DASH)


def _opus(name: str, seconds: int) -> _Job:
    return _job(name, _tone(seconds, 48000), "-ac", "2", "-c:a", "libopus", "-b:a", "128k")


def _thumbs(clip: str, sizes: tuple[tuple[str, int, int], ...]) -> list[_Job]:
    return [
        _job(f"{clip}/{n}.jpg", _video(f"{w}x{h}", 1, 1), "-frames:v", "1", "-q:v", "4")
        for n, w, h in sizes
    ]


def _jobs() -> list[_Job]:
    std = STANDARD_DURATION
    src = _video("640x360", STANDARD_FPS, std)
    slow_src = _video("640x360", STANDARD_FPS, SLOW_DURATION, ",noise=alls=40:allf=t")
    cbr = f"{SLOW_VIDEO_KBPS}k"
    jobs = [
        _job(
            "standard/134.mp4",
            (*src, *_H264),
            ("-b:v", "300k", "-maxrate", "400k", "-bufsize", "600k", "-g", "30", "-an"),
            _DASH,
        ),
        _job(
            "standard/243.webm",
            (*src, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"),
            ("-row-mt", "1", "-b:v", "250k", "-g", "30", "-an"),
        ),
        _aac("standard/140.m4a", std),
        _opus("standard/251.webm", std),
        _job(
            "standard/18.mp4",
            (*src, *_tone(std, 44100), *_H264),
            ("-b:v", "350k", "-maxrate", "450k", "-bufsize", "700k", "-g", "30"),
            ("-ac", "2", "-c:a", "aac", "-b:a", "96k", "-shortest", "-movflags", "+faststart"),
        ),
        *_thumbs("standard", THUMBNAILS),
        # Noise defeats the encoder, and CBR padding guarantees the byte size throttling relies on.
        _job(
            "slow/134.mp4",
            (*slow_src, *_H264),
            ("-b:v", cbr, "-minrate", cbr, "-maxrate", cbr, "-bufsize", cbr),
            ("-x264-params", "nal-hrd=cbr", "-an", *_DASH),
        ),
        _aac("slow/140.m4a", SLOW_DURATION),
        *_thumbs("slow", THUMBNAILS),
        _aac("ladder/140.m4a", LADDER_DURATION),
        _opus("ladder/251.webm", LADDER_DURATION),
        *_thumbs("ladder", LADDER_THUMBNAILS),
    ]
    jobs += [
        _job(
            f"ladder/{itag}.mp4",
            _video(f"{w}x{h}", LADDER_FPS, LADDER_DURATION),
            _H264,
            ("-crf", "36", "-an"),
            _DASH,
        )
        for itag, w, h in LADDER_RUNGS
    ]
    return jobs


def _run(job: _Job, root: Path) -> None:
    out = root / job.name
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([*_FFMPEG, *job.args, str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed for {job.name}: {proc.stderr.strip()}")


_H264_PROFILES = {
    "Constrained Baseline": "42c0",
    "Baseline": "4200",
    "Main": "4d40",
    "High": "6400",
}


def _codec_string(stream: Mapping[str, Any]) -> str:
    name = str(stream.get("codec_name"))
    if name == "h264":
        profile = _H264_PROFILES.get(str(stream.get("profile")), "4d40")
        return f"avc1.{profile}{int(stream.get('level', 30)):02x}"
    return {"aac": "mp4a.40.2", "opus": "opus", "vp9": "vp9", "mjpeg": "mjpeg"}.get(name, name)


def _probe(root: Path, name: str) -> MediaFile:
    path = root / name
    proc = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    streams: list[dict[str, Any]] = data.get("streams", [])
    fmt: dict[str, Any] = data.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    size = path.stat().st_size
    duration = float(fmt.get("duration") or 0.0)
    bit_rate = fmt.get("bit_rate")
    tbr = float(bit_rate) / 1000 if bit_rate else (size * 8 / 1000 / duration if duration else 0.0)
    fps = None
    if video is not None and video.get("avg_frame_rate") not in (None, "0/0"):
        fps = round(float(Fraction(str(video["avg_frame_rate"]))), 3)
    return MediaFile(
        name=name,
        size=size,
        duration=round(duration, 3),
        width=int(video["width"]) if video else None,
        height=int(video["height"]) if video else None,
        fps=fps,
        vcodec=_codec_string(video) if video else "none",
        acodec=_codec_string(audio) if audio else "none",
        tbr=round(tbr, 3),
        asr=int(audio["sample_rate"]) if audio else None,
        audio_channels=int(audio["channels"]) if audio else None,
    )


def probe_media(root: Path, name: str) -> MediaFile:
    """ffprobe facts about `root / name`, in the fixtures' terms (for files tests make)."""
    return _probe(root, name)


def _generate(root: Path) -> None:
    started = time.monotonic()
    jobs = _jobs()
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        list(pool.map(lambda job: _run(job, root), jobs))
        files = list(pool.map(lambda job: _probe(root, job.name), jobs))
    slow = next(f for f in files if f.name == "slow/134.mp4")
    if slow.size < 3 * 1024 * 1024:
        raise RuntimeError(f"slow fixture too small to throttle meaningfully: {slow.size} bytes")
    manifest = {
        "version": VERSION,
        "generation_seconds": round(time.monotonic() - started, 3),
        "files": [asdict(f) for f in files],
    }
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _load(directory: Path) -> MediaSet | None:
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
        files = {f["name"]: MediaFile(**f) for f in manifest["files"]}
        if manifest["version"] != VERSION or set(files) != {j.name for j in _jobs()}:
            return None
        if any((directory / n).stat().st_size != f.size for n, f in files.items()):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return MediaSet(directory, files, float(manifest["generation_seconds"]))


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_media(cache_root: Path | None = None) -> MediaSet:
    """Return the cached media set, generating it first if missing or damaged."""
    root = cache_root or DEFAULT_CACHE_ROOT
    final = root / VERSION
    cached = _load(final)
    if cached is not None:
        return cached
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{VERSION}.lock"):
        cached = _load(final)
        if cached is not None:
            return cached
        # Holding the lock: anything left over is from a crashed or outdated run.
        for leftover in root.glob(f".{VERSION}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if final.exists():
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{VERSION}-", dir=root))
        try:
            _generate(tmp)
            tmp.chmod(0o755)  # mkdtemp's 0700 would hide the cache from other users/containers
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    loaded = _load(final)
    if loaded is None:
        raise RuntimeError(f"media cache at {final} is unreadable right after generation")
    return loaded
