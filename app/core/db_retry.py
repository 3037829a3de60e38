"""Worker-side database writes that ride out a short database outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

logger = logging.getLogger(__name__)
T = TypeVar("T")

TRANSIENT = (DBAPIError, PoolTimeout, OSError)


def is_transient(exc: BaseException) -> bool:
    """Connection trouble, not a mistake in the statement."""
    if isinstance(exc, IntegrityError):
        return False
    return isinstance(exc, TRANSIENT)


def with_db_retry(operation: Callable[[], T], *, within: float) -> T:
    """Run `operation`, retrying on connection errors with backoff for up to `within` seconds."""
    deadline = time.monotonic() + within
    delay = 0.5
    while True:
        try:
            return operation()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "database unavailable (%s); retrying in %.1f s", type(exc).__name__, delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
