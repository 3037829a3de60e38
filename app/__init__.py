"""The YouTube download service.

Every process (API, worker, beat, `yds`, migrations) imports this package before anything
else of ours, so this is where an updated yt-dlp (YTDLP_UPDATE) is put ahead of the pinned
one: before any module imports yt_dlp.
"""

from pydantic import ValidationError

from app.core.config import Settings
from app.core.ytdlp_home import activate


def _use_updated_ytdlp() -> None:
    try:
        settings = Settings()
    except ValidationError:
        # The process reports invalid settings itself when it loads them; nothing to load.
        return
    activate(settings)


_use_updated_ytdlp()
