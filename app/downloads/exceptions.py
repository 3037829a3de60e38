"""Errors of the downloads domain: API-facing ones and the worker's failure codes."""

from __future__ import annotations

from app.core.errors import AppError


class UnsupportedUrl(AppError):
    status_code = 400
    code = "unsupported_url"
    message = "This URL is not supported."


class FileNotFound(AppError):
    status_code = 404
    code = "file_not_found"
    message = "No such file for this job."


class FileCorrupt(AppError):
    status_code = 409
    code = "file_corrupt"
    message = (
        "The stored file no longer matches its recorded SHA-256; retry the job to fetch it again."
    )


class InvalidRange(AppError):
    status_code = 400
    code = "invalid_range"
    message = "The Range header is malformed."


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "range_not_satisfiable"
    message = "The requested range starts beyond the end of the file."

    def __init__(self, size: int) -> None:
        super().__init__(
            f"No requested range overlaps the file's {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        )


class JobNotRetryable(AppError):
    status_code = 409
    code = "job_not_retryable"
    message = "Only failed or canceled jobs, or completed ones with damaged files, can be retried."


class JobNotPausable(AppError):
    status_code = 409
    code = "job_not_pausable"
    message = "Only queued or running downloads can be paused."


class JobNotPaused(AppError):
    status_code = 409
    code = "job_not_paused"
    message = "Only paused jobs can be resumed."


class InsufficientStorage(AppError):
    status_code = 507
    code = "insufficient_storage"
    message = "The server is low on disk space; new downloads are refused until it is freed."


class InvalidOptions(AppError):
    status_code = 422
    code = "invalid_options"
    message = "These options do not apply to this URL."


class AsrDisabled(AppError):
    status_code = 422
    code = "asr_disabled"
    message = (
        "Speech recognition is not enabled on this server (ASR_ENABLED); "
        'ask for transcribe "never" or leave it unset.'
    )


class TooManyUrls(AppError):
    status_code = 422
    code = "too_many_urls"
    message = "The batch has more URLs than BATCH_MAX_URLS allows."


class JobFailure(Exception):
    """A download ended without a usable result; `code` is what the job records."""

    code = "download_failed"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class JobCanceled(Exception):
    """Raised inside the yt-dlp hooks when a cancel was requested."""


class JobPaused(Exception):
    """Raised inside the yt-dlp hooks when the job's owner asked to pause it."""


class HandBack(Exception):
    """The worker is shutting down and the grace period is over: return the job to the queue."""


class LeaseLost(Exception):
    """Another worker owns the job now; this one must stop without writing."""


class OutsideDateWindow(Exception):
    """A channel's entry turned out to be uploaded outside date_after/date_before."""

    def __init__(self, upload_date: str) -> None:
        super().__init__(upload_date)
        self.upload_date = upload_date
