"""Logging: readable text locally, one JSON object a line on AWS; request and job ids bound."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from app.core.config import Environment, Settings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
job_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(record, "request_id", None) or request_id_var.get()
        record.job_id = getattr(record, "job_id", None) or job_id_var.get()
        return True


# Secrets that may appear inside a logged line: the api_key query parameter of WebSocket
# clients, API keys themselves, and the signing parts of presigned S3 URLs.
_SECRETS = (
    (re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"\byds_[A-Za-z0-9_-]{16,}"), "yds_[redacted]"),
    (
        re.compile(r"(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"']+", re.IGNORECASE),
        r"\1[redacted]",
    ),
)
# Loggers that print request paths; uvicorn.error logs WebSocket handshakes with the query.
_PATH_LOGGERS = ("uvicorn", "uvicorn.access", "uvicorn.error")


class RedactSecrets(logging.Filter):
    """Keeps API keys and presigned URL signatures out of every log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for pattern, replacement in _SECRETS:
            redacted = pattern.sub(replacement, redacted)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class QuietRoutineTasks(logging.Filter):
    """Celery's INFO lines about the beat's own maintenance tasks (sent, received and
    succeeded, every 30 s for the reconciler alone) are shown at DEBUG only: otherwise they
    bury the lines about jobs in the terminal of `make run`. Their failures, WARNING and
    up, are untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.levelno == logging.INFO
            and record.name.startswith("celery")
            and "maintenance." in record.getMessage()
        ):
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("request_id", "job_id"):
            if value := getattr(record, field, None):
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name}={value}"
            for name in ("request_id", "job_id")
            if (value := getattr(record, name, None))
        )
        line = super().format(record)
        return f"{line} [{ids}]" if ids else line


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if settings.effective_environment is Environment.AWS:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    handler.addFilter(QuietRoutineTasks())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    for name in _PATH_LOGGERS:
        # uvicorn installs its own handlers; route its lines through ours instead, so
        # they come out as JSON on AWS and get the same redaction.
        path_logger = logging.getLogger(name)
        path_logger.handlers[:] = []
        path_logger.propagate = True
        if not any(isinstance(f, RedactSecrets) for f in path_logger.filters):
            path_logger.addFilter(RedactSecrets())
    root.setLevel(settings.log_level)
    for noisy in ("httpx", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


@contextmanager
def bound_job(job_id: str) -> Iterator[None]:
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)
