"""What a user reads when YouTube refuses: bot checks, HTTP 429 and geo blocks name this
service's settings and the doctor, never yt-dlp's command-line flags."""

from __future__ import annotations

import re

import pytest

from app.downloads.engine.guard import classify_error

BOT_CHECK = (
    "ERROR: [youtube] aqz-KE-bpKQ: Sign in to confirm you\u2019re not a bot. Use "
    "--cookies-from-browser or --cookies for the authentication. See  https://github.com/yt-dlp/"
    "yt-dlp/wiki/FAQ#how-do-i-pass-cookies-to-yt-dlp  for how to manually pass cookies. Also "
    "see  https://github.com/yt-dlp/yt-dlp/wiki/Extractors#exporting-youtube-cookies  for tips"
)
TOO_MANY_REQUESTS = (
    "ERROR: [youtube] aqz-KE-bpKQ: Unable to download API page: HTTP Error 429: Too Many "
    "Requests (caused by <HTTPError 429: Too Many Requests>)"
)
# What YoutubeDL reports for a GeoRestrictedError: a sentence on each line.
GEO_BLOCKED = (
    "ERROR: [youtube] aqz-KE-bpKQ: The uploader has not made this video available in your "
    "country\nThis video is available in Germany, France.\nYou might want to use a VPN or a "
    "proxy server (with --proxy) to workaround."
)
GEO_RESTRICTION = (
    "ERROR: [generic] clip: This video is not available from your location due to geo "
    "restriction\nYou might want to use a VPN or a proxy server (with --proxy) to workaround."
)
_ANY_FLAG = re.compile(r"(?<![\w-])--[a-z]")


@pytest.mark.parametrize(
    ("raised", "code", "settings"),
    [
        (
            BOT_CHECK,
            "throttled",
            ("yds cookies upload", "YTDLP_PROXIES", "YTDLP_POT_PROVIDER_URL", "YTDLP_IMPERSONATE"),
        ),
        (TOO_MANY_REQUESTS, "throttled", ("YTDLP_PROXIES", "BREAKER_COOLDOWN_SECONDS")),
        (GEO_BLOCKED, "geo_restricted", ("YTDLP_PROXIES",)),
        (GEO_RESTRICTION, "geo_restricted", ("YTDLP_PROXIES",)),
    ],
)
def test_refusals_name_our_settings_and_the_doctor_never_yt_dlp_flags(
    raised: str, code: str, settings: tuple[str, ...]
) -> None:
    failure = classify_error(Exception(raised))
    assert failure.code == code
    for setting in settings:
        assert setting in failure.message
    assert "yds doctor" in failure.message
    assert not _ANY_FLAG.search(failure.message), failure.message
    assert "VPN" not in failure.message and "github.com" not in failure.message


def test_a_geo_block_keeps_where_the_video_is_available() -> None:
    message = classify_error(Exception(GEO_BLOCKED)).message
    assert message.startswith(
        "The uploader has not made this video available in your country. "
        "This video is available in Germany, France. "
    )


def test_a_sign_in_reason_keeps_youtubes_words_and_gets_our_advice() -> None:
    raised = (
        "ERROR: [youtube] abc: Sign in to confirm your age. This video may be inappropriate "
        "for some users. Use --cookies-from-browser or --cookies for the authentication."
    )
    failure = classify_error(Exception(raised))
    assert failure.code == "age_restricted"
    assert failure.message.startswith(
        "Sign in to confirm your age. This video may be inappropriate for some users. "
    )
    assert "yds cookies upload" in failure.message and "--cookies" not in failure.message
