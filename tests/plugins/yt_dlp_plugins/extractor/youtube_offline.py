"""yt-dlp override of YoutubeIE that answers from an offline JSON catalog (tests only).

Active only while ``$YDS_OFFLINE_CATALOG`` names a catalog file; otherwise every call goes
to the real YoutubeIE, so having the plugin on the path is harmless.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from yt_dlp.extractor.youtube import YoutubeIE
from yt_dlp.utils import ExtractorError

CATALOG_ENV = "YDS_OFFLINE_CATALOG"

# YouTube's own wording; entries may also carry a free-form "error_message".
ERROR_MESSAGES = {
    "private": "Private video. Sign in if you've been granted access to this video",
    "removed": "Video unavailable. This video has been removed by the uploader",
    "unavailable": "Video unavailable",
    "age_restricted": "Sign in to confirm your age. This video may be inappropriate for some users",
    "bot_check": "Sign in to confirm you\u2019re not a bot",
}

_CONTROL_KEYS = frozenset({"error", "error_message", "extract_delay"})


class YoutubeOfflineIE(YoutubeIE, plugin_name="offline"):  # type: ignore[misc,call-arg]
    """Resolve any URL YoutubeIE accepts from the catalog named by ``$YDS_OFFLINE_CATALOG``."""

    def _real_extract(self, url: str) -> dict[str, Any]:
        catalog_path = os.environ.get(CATALOG_ENV)
        if not catalog_path:
            return super()._real_extract(url)  # type: ignore[no-any-return]
        video_id: str = self._match_id(url)
        catalog = json.loads(Path(catalog_path).read_text(encoding="utf-8"))
        entry: dict[str, Any] | None = catalog.get("videos", {}).get(video_id)
        if entry is None:
            raise ExtractorError(ERROR_MESSAGES["unavailable"], expected=True, video_id=video_id)
        if entry.get("extract_delay"):
            time.sleep(float(entry["extract_delay"]))
        if entry.get("error") or entry.get("error_message"):
            message = entry.get("error_message") or ERROR_MESSAGES[entry["error"]]
            if "sign in" in message.lower():
                # Like YoutubeIE, which appends the --cookies hint to every sign-in reason.
                message = f"{message}. {self._youtube_login_hint}"
            raise ExtractorError(message, expected=True, video_id=video_id)
        info = {key: value for key, value in entry.items() if key not in _CONTROL_KEYS}
        info.update(
            id=video_id,
            webpage_url=f"https://www.youtube.com/watch?v={video_id}",
            _format_sort_fields=(
                "quality", "res", "fps", "hdr:12", "source", "vcodec", "channels", "acodec",
                "lang", "proto",
            ),
        )  # fmt: skip
        return info


# Keep the production extractor name in info dicts and messages ("youtube", not "youtube+offline").
YoutubeOfflineIE.IE_NAME = YoutubeIE.IE_NAME
