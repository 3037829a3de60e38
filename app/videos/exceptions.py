from __future__ import annotations

from app.core.errors import AppError
from app.downloads.exceptions import JobFailure

# How a failed look-up reaches the client: the video's own problems are the client's to
# see (422), YouTube throttling is temporary (503), anything else is an upstream failure.
_STATUS_BY_CODE = {
    "forbidden_address": 400,
    "throttled": 503,
    "network_error": 502,
    "dns_failed": 502,
    "connection_refused": 502,
    "network_unreachable": 502,
    "proxy_failed": 502,
    "connect_timeout": 504,
    "download_failed": 502,
}


class VideoLookupFailed(AppError):
    status_code = 422
    code = "video_unavailable"
    message = "The video could not be looked up."

    def __init__(self, failure: JobFailure) -> None:
        super().__init__(failure.message)
        self.code = failure.code
        self.status_code = _STATUS_BY_CODE.get(failure.code, 422)


class LookupTimedOut(AppError):
    status_code = 504
    code = "lookup_timeout"
    message = "YouTube did not answer in time; try again."
