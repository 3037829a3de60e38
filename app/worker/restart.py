"""A worker that starts itself again, in the same process (same pid), once it runs no task:
how it picks up a yt-dlp update without cutting a download short.

Celery restarts a worker on SIGHUP the same way (a warm stop, then `execv` at exit), but
only when it is detached from a terminal; this does it from a thread in either case.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

from celery.worker import state

logger = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 5.0


def is_idle() -> bool:
    """No task running or reserved (received, waiting for a pool process) in this worker."""
    return not state.active_requests and not state.reserved_requests


def restart_when_idle(stopped: threading.Event, *, reason: str) -> bool:
    """Wait until this worker is idle, then stop it warmly and start it again; False when
    `stopped` was set first (the worker is shutting down anyway)."""
    while not is_idle():
        if stopped.wait(IDLE_POLL_SECONDS):
            return False
    logger.info("restarting the worker: %s", reason)
    atexit.register(_exec_again)
    # What Celery's SIGHUP handler sets: the consumer's loop stops the worker warmly.
    state.should_stop = 0
    return True


def _exec_again() -> None:
    # The same command line again (orig_argv keeps `-m celery`, which argv loses).
    os.execv(sys.executable, sys.orig_argv)  # noqa: S606
