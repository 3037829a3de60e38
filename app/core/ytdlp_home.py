"""Where a process loads yt-dlp from: the copy pinned in requirements.txt, or a newer one a
worker installed and checked under YTDLP_UPDATE_DIR (`app.youtube.updates`).

The update directory holds `versions/<version>/` (yt-dlp and its EJS package, installed
with `pip --target`) and `current`, a one-line file naming the version directory in use.
`activate()` puts that directory in front of `sys.path`; it must run before anything
imports yt_dlp, which is why `app/__init__.py` calls it.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from app.core.config import Settings, YtdlpUpdate

CURRENT_POINTER = "current"
VERSIONS_DIR = "versions"


def version_directory(update_dir: Path, version: str) -> Path:
    return update_dir / VERSIONS_DIR / version


def version_in(paths: list[str]) -> str | None:
    """The version of the first yt-dlp found on `paths`, as yt-dlp itself reports it: its
    nightlies are published as `<date>.<time>.dev0` but call themselves `<date>.<time>`."""
    for distribution in metadata.distributions(name="yt-dlp", path=paths):
        return str(distribution.version).partition(".dev")[0]
    return None


def version_key(version: str) -> tuple[int, ...]:
    # yt-dlp's versions are dates (2026.10.26), a nightly's a time more (2026.10.27.101530).
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def pinned_version(settings: Settings) -> str:
    """The version installed with the service (requirements.txt), whatever is active."""
    update_dir = settings.ytdlp_update_dir.resolve()
    paths = [
        entry for entry in sys.path if not Path(entry or ".").resolve().is_relative_to(update_dir)
    ]
    return version_in(paths) or "unknown"


def pointed_directory(update_dir: Path) -> Path | None:
    """The version directory `current` names, if it holds a yt_dlp package; None when the
    pointer is absent, unreadable or names anything else."""
    try:
        name = (update_dir / CURRENT_POINTER).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        return None
    candidate = version_directory(update_dir, name)
    if not (candidate / "yt_dlp" / "__init__.py").is_file():
        return None
    return candidate


def active_directory(settings: Settings) -> Path | None:
    """The updated yt-dlp a process should load: none when updates are off, or when the
    pinned one is as new (an image rebuilt with a newer yt-dlp than the volume's update)."""
    if settings.ytdlp_update is YtdlpUpdate.OFF:
        return None
    directory = pointed_directory(settings.ytdlp_update_dir)
    if directory is None:
        return None
    updated = version_in([str(directory)])
    if updated is None or version_key(updated) <= version_key(pinned_version(settings)):
        return None
    return directory


def activate(settings: Settings) -> Path | None:
    """Load yt-dlp from the updated directory from now on, if there is one to load; returns
    it. Too late once yt_dlp is imported: then nothing changes."""
    if "yt_dlp" in sys.modules:
        return None
    directory = active_directory(settings)
    if directory is None:
        return None
    entry = str(directory.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)
    return directory
