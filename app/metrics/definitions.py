"""The series /metrics exposes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    name: str
    help: str
    buckets: tuple[float, ...] = ()


JOBS_CREATED = Series(
    "yds_jobs_created",
    "Jobs created: requests, batches and their URLs, playlist and channel entries.",
)
JOBS_COMPLETED = Series("yds_jobs_completed", "Jobs that completed.")
JOBS_FAILED = Series("yds_jobs_failed", "Jobs that failed, by error code.")
JOBS_CANCELED = Series("yds_jobs_canceled", "Jobs that were canceled.")
JOBS_DROPPED = Series(
    "yds_jobs_dropped", "Playlist or channel entries removed unrun: outside the date window."
)
JOB_RETRIES = Series("yds_job_retries", "Transient failures retried later, by error code.")
BREAKER_OPEN = Series(
    "yds_circuit_breaker_open",
    "1 while a breaker is open: route:<proxy> while that route rests, youtube while all do.",
)
JOB_DURATION = Series(
    "yds_job_duration_seconds",
    "Time from a job's first start to its end, by final status.",
    (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600),
)
DOWNLOADED_BYTES = Series("yds_downloaded_bytes", "Media bytes downloaded by workers.")
STORED_BYTES = Series("yds_stored_bytes", "Bytes written to storage.")
HTTP_REQUESTS = Series("yds_http_requests", "HTTP requests by route, method and status.")
HTTP_DURATION = Series(
    "yds_http_request_duration_seconds",
    "HTTP request latency by route.",
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBSOCKET_CLIENTS = Series("yds_websocket_clients", "Open WebSocket progress connections.")
QUEUE_DEPTH = Series("yds_queue_depth", "Jobs queued and not yet started.")
JOBS_IN_FLIGHT = Series("yds_jobs_in_flight", "Jobs being processed by workers.")
DAMAGED_FILES = Series(
    "yds_damaged_files", "Stored files found corrupt or missing and not yet re-fetched, by state."
)
YTDLP_INFO = Series(
    "yds_ytdlp_info",
    "1 for each process by the yt-dlp it runs: process (api or the worker's host:pid), "
    "version, and source (pinned: installed with the service; updated: YTDLP_UPDATE).",
)
SUBSCRIPTION_CHECKS = Series(
    "yds_subscription_checks", "Subscription checks that ended, by status (completed, failed)."
)
SUBSCRIPTION_NEW_VIDEOS = Series(
    "yds_subscription_new_videos", "New uploads a subscription's check queued for download."
)

COUNTERS = (
    JOBS_CREATED, JOBS_COMPLETED, JOBS_FAILED, JOBS_CANCELED, JOBS_DROPPED, JOB_RETRIES,
    DOWNLOADED_BYTES, STORED_BYTES, HTTP_REQUESTS, SUBSCRIPTION_CHECKS, SUBSCRIPTION_NEW_VIDEOS,
)  # fmt: skip
HISTOGRAMS = (JOB_DURATION, HTTP_DURATION)
