"""What to do about a failed job, one short sentence per error code. The doctor shows them
beside the last YouTube failures and the recovery view beside a key's failures, so the
advice reads the same wherever a code is shown. A code without a hint gets none: the
job's own message says what happened."""

from __future__ import annotations

# A canceled job carries no error code of its own; the recovery view groups it under this.
CANCELED_CODE = "canceled"
# A failed job without a code (a row older than the codes); grouped under this.
UNKNOWN_CODE = "unknown"

_BOT_CHECK_FIXES = (
    "see the proxies, cookies, PO-token provider and impersonation checks; "
    "run `yds doctor` again after a change"
)
_NETWORK = (
    "The worker could not reach the host; a retry often works once the network is back "
    "(an operator can check the proxies and the egress settings)."
)

FAILURE_HINTS: dict[str, str] = {
    "throttled": "YouTube's bot check or HTTP 429: " + _BOT_CHECK_FIXES + ".",
    "geo_restricted": "Send downloads through a proxy in a country where the video plays "
    "(YTDLP_PROXIES).",
    "age_restricted": "Upload the cookies of a signed-in adult account "
    "(`yds cookies upload FILE`).",
    "members_only": "Upload the cookies of an account that is a member of the channel "
    "(`yds cookies upload FILE`).",
    "video_private": "Only the uploader's or an invited account's cookies can open it.",
    "video_unavailable": "The video is gone from YouTube; nothing to fix here.",
    "network_error": "The worker could not reach YouTube: check the proxies and the egress "
    "settings (ALLOW_PRIVATE_NETWORKS, ALLOWED_PRIVATE_CIDRS).",
    "download_failed": "Often an outdated yt-dlp: see the yt-dlp check (YTDLP_UPDATE=stable).",
    "postprocessing_failed": "ffmpeg failed on the download: see the job's message.",
    "forbidden_address": "The egress guard refused an address (see the job's message).",
    "invalid_cookies": "The cookies cannot be loaded: an admin can upload a valid file "
    "(`yds cookies upload FILE`), then retry.",
    "dns_failed": _NETWORK,
    "connection_refused": _NETWORK,
    "network_unreachable": _NETWORK,
    "connect_timeout": _NETWORK,
    "proxy_failed": "A proxy of YTDLP_PROXIES failed; retry once it answers again.",
    "storage_unavailable": "The files could not be stored (disk or S3 unreachable); retry "
    "once storage is back.",
    "file_too_large": "Larger than MAX_FILE_SIZE_GB: retry with a lower quality or audio only.",
    "live_not_supported": "The stream is still live; retry once it has ended.",
    "timeout": "It ran longer than DOWNLOAD_TIMEOUT; retry with a lower quality, or when "
    "the service is less busy.",
    "worker_lost": "The worker died while running it; a retry starts it afresh.",
    "playlist_not_found": "The playlist or channel does not exist: check the URL.",
    "playlist_empty": "Nothing matched: check playlist_items, max_items and the dates.",
    "all_entries_failed": "Every entry failed: open the job to see why; a retry runs the "
    "failed entries again.",
    "internal_error": "An unexpected error: retry, and tell the operator if it fails again.",
    "paused_expired": "It stayed paused longer than PAUSED_RETENTION_HOURS, so its partial "
    "download was deleted; a retry starts it again from the beginning.",
    CANCELED_CODE: "Canceled before it finished; a retry runs it again.",
}


def hint_for(code: str) -> str | None:
    return FAILURE_HINTS.get(code)
