"""Where a process loads yt-dlp from: the copy pinned in requirements.txt, or a newer one a
worker installed and checked under YTDLP_UPDATE_DIR (`app.youtube.updates`).

The update directory holds `versions/<version>/` (yt-dlp and its EJS package, installed
with `pip --target`) and `current`, a one-line file naming the version directory in use.
`activate()` puts that directory in front of `sys.path`; it must run before anything
imports yt_dlp, which is why `app/__init__.py` calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.core.config import Settings, YtdlpUpdate

CURRENT_POINTER = "current"
VERSIONS_DIR = "versions"


def version_directory(update_dir: Path, version: str) -> Path:
    return update_dir / VERSIONS_DIR / version


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


def activate(settings: Settings) -> Path | None:
    """Load yt-dlp from the updated directory from now on, if updates are on and one is in
    place; returns that directory. Too late once yt_dlp is imported: then nothing changes."""
    if settings.ytdlp_update is YtdlpUpdate.OFF or "yt_dlp" in sys.modules:
        return None
    directory = pointed_directory(settings.ytdlp_update_dir)
    if directory is None:
        return None
    entry = str(directory.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)
    return directory
