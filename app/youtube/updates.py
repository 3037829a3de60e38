"""yt-dlp updates without a rebuild (YTDLP_UPDATE): install the newest release into
YTDLP_UPDATE_DIR, check it in a child process, and only then point `current` at it.

A worker runs `update_ytdlp()` at start and every YTDLP_UPDATE_INTERVAL_HOURS
(`YtdlpUpdater`), and restarts itself once idle when the version new processes would load
differs from its own. The API loads the new version at its next start. `update_status()`
is what /health/detailed and the doctor report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
import redis.asyncio
import yt_dlp.version

from app.core.config import Settings, YtdlpUpdate
from app.core.ytdlp_home import (
    CURRENT_POINTER,
    VERSIONS_DIR,
    active_directory,
    pinned_version,
    pointed_directory,
    version_directory,
    version_in,
    version_key,
)
from app.youtube import selfcheck

logger = logging.getLogger(__name__)

PACKAGES = ("yt-dlp", "yt-dlp-ejs")
STATUS_FILE = "status.json"
LOCK_FILE = ".lock"
STAGING_PREFIX = ".incoming-"
INSTALL_TIMEOUT_SECONDS = 600.0
SELF_CHECK_TIMEOUT_SECONDS = 120.0
MESSAGE_LIMIT = 300
# The last attempt of any worker, for an API that does not share YTDLP_UPDATE_DIR (ECS).
STATUS_KEY = "yds:ytdlp:update"
# Set in a worker's environment when it restarts for a yt-dlp version.
RESTARTED_FOR = "_YDS_RESTARTED_FOR_YTDLP"


class UpdateResult(enum.StrEnum):
    UPDATED = "updated"
    UP_TO_DATE = "up_to_date"
    FAILED_SELF_CHECK = "failed_self_check"
    INSTALL_FAILED = "install_failed"


@dataclass(frozen=True)
class UpdateAttempt:
    attempted_at: datetime
    result: UpdateResult
    message: str
    # The version new processes load after this attempt.
    active_version: str


@dataclass(frozen=True)
class UpdateStatus:
    mode: str
    pinned_version: str
    # What a new worker or API process would load.
    active_version: str
    last_attempt_at: datetime | None
    last_result: str | None
    last_message: str | None


class _StepFailed(Exception):
    """A step of an update failed; the message says why, in one line."""


def running_version() -> str:
    """The yt-dlp version this process has loaded."""
    return str(yt_dlp.version.__version__)


def active_version(settings: Settings) -> str:
    """The version a process started now would load."""
    directory = active_directory(settings)
    found = version_in([str(directory)]) if directory is not None else None
    return found or pinned_version(settings)


def update_status(settings: Settings) -> UpdateStatus:
    """The update mode, the pinned and active versions and the last attempt; no network."""
    recorded = _read_status(settings.ytdlp_update_dir)
    return UpdateStatus(
        mode=settings.ytdlp_update.value,
        pinned_version=pinned_version(settings),
        active_version=active_version(settings),
        last_attempt_at=_moment(recorded.get("attempted_at")),
        last_result=recorded.get("result"),
        last_message=recorded.get("message"),
    )


async def update_status_anywhere(settings: Settings, client: redis.asyncio.Redis) -> UpdateStatus:
    """`update_status()`, its last attempt taken from what a worker published in Redis when
    this process's YTDLP_UPDATE_DIR has none (a worker on another host)."""
    status = update_status(settings)
    if status.last_attempt_at is not None:
        return status
    raw = await client.get(STATUS_KEY)
    recorded = _parse_status(raw.decode() if isinstance(raw, bytes) else raw or "")
    return dataclasses.replace(
        status,
        last_attempt_at=_moment(recorded.get("attempted_at")),
        last_result=recorded.get("result"),
        last_message=recorded.get("message"),
    )


def publish_status(client: redis.Redis, attempt: UpdateAttempt) -> None:
    """Share a worker's attempt with API processes that do not see its directory."""
    try:
        client.set(STATUS_KEY, json.dumps(_status_record(attempt)))
    except redis.RedisError:
        logger.warning("could not publish the yt-dlp update status", exc_info=True)


def update_ytdlp(settings: Settings) -> UpdateAttempt | None:
    """Install the newest yt-dlp for YTDLP_UPDATE and switch to it if it passes its check;
    None when updates are off. Waits while another process updates the same directory."""
    if settings.ytdlp_update is YtdlpUpdate.OFF:
        return None
    update_dir = settings.ytdlp_update_dir
    (update_dir / VERSIONS_DIR).mkdir(parents=True, exist_ok=True)
    with _exclusive(update_dir):
        attempt = _attempt(settings)
        _write_atomically(update_dir / STATUS_FILE, json.dumps(_status_record(attempt)))
    log = logger.warning if attempt.result in _FAILURES else logger.info
    log("yt-dlp update (%s): %s", settings.ytdlp_update.value, attempt.message)
    return attempt


_FAILURES = {UpdateResult.FAILED_SELF_CHECK, UpdateResult.INSTALL_FAILED}


def _attempt(settings: Settings) -> UpdateAttempt:
    update_dir = settings.ytdlp_update_dir
    current = active_version(settings)
    _remove_unfinished(update_dir)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=update_dir / VERSIONS_DIR))

    def ended(result: UpdateResult, message: str, version: str = current) -> UpdateAttempt:
        return UpdateAttempt(datetime.now(UTC), result, message[:MESSAGE_LIMIT], version)

    try:
        try:
            _install(settings, staging)
        except _StepFailed as exc:
            return ended(UpdateResult.INSTALL_FAILED, f"installing failed: {exc}")
        candidate = version_in([str(staging)])
        if candidate is None:
            return ended(UpdateResult.INSTALL_FAILED, "the installed files hold no yt-dlp")
        if not _is_newer(candidate, current):
            return ended(UpdateResult.UP_TO_DATE, f"yt-dlp {current} is up to date")
        target = version_directory(update_dir, candidate)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        try:
            _self_check(target, candidate)
        except _StepFailed as exc:
            shutil.rmtree(target, ignore_errors=True)
            return ended(
                UpdateResult.FAILED_SELF_CHECK,
                f"yt-dlp {candidate} failed its self-check, keeping {current}: {exc}",
            )
        previous = pointed_directory(update_dir)
        _write_atomically(update_dir / CURRENT_POINTER, f"{candidate}\n")
        _prune(update_dir, keep={candidate, previous.name if previous else ""})
        return ended(UpdateResult.UPDATED, f"yt-dlp {current} -> {candidate}", candidate)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _pip_command(settings: Settings, target: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--target", str(target)]
    command += ["--no-deps", "--only-binary", ":all:", "--no-input", "--disable-pip-version-check"]
    # Few retries: a failed attempt is tried again at the next interval anyway.
    command += ["--no-cache-dir", "--quiet", "--retries", "2"]
    if settings.ytdlp_update is YtdlpUpdate.NIGHTLY:
        command.append("--pre")
    if settings.ytdlp_update_find_links:
        # Only these wheels: no index, and no pip configuration that could add one.
        command += ["--isolated", "--no-index", "--find-links", settings.ytdlp_update_find_links]
    return [*command, *PACKAGES]


def _install(settings: Settings, target: Path) -> None:
    secret = settings.ytdlp_update_index_url.get_secret_value()
    environment = dict(os.environ)
    if secret and not settings.ytdlp_update_find_links:
        # In the environment, not on the command line where `ps` shows its password.
        environment["PIP_INDEX_URL"] = secret
    try:
        done = subprocess.run(
            _pip_command(settings, target),
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _StepFailed(f"pip took longer than {INSTALL_TIMEOUT_SECONDS:g} s") from exc
    if done.returncode != 0:
        reason = _last_line(done.stderr) or f"pip exited with code {done.returncode}"
        raise _StepFailed(reason.replace(secret, "***") if secret else reason)


def _self_check(candidate: Path, version: str) -> None:
    # The child sees the candidate first and nothing of ours: YTDLP_UPDATE is off there.
    # Absolute: YTDLP_UPDATE_DIR may be relative to our directory, not to the child's.
    candidate = candidate.resolve()
    environment = {**os.environ, "PYTHONPATH": str(candidate), "YTDLP_UPDATE": "off"}
    command = [sys.executable, selfcheck.__file__, str(candidate), version]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=SELF_CHECK_TIMEOUT_SECONDS,
            env=environment,
            cwd=candidate,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise _StepFailed(f"no answer within {SELF_CHECK_TIMEOUT_SECONDS:g} s") from exc
    if done.returncode != 0:
        raise _StepFailed(_last_line(done.stderr) or f"exit code {done.returncode}")


def _last_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _is_newer(candidate: str, current: str) -> bool:
    return version_key(candidate) > version_key(current)


def _remove_unfinished(update_dir: Path) -> None:
    # What an attempt cut short (a killed worker) left behind; we hold the lock.
    for entry in (update_dir / VERSIONS_DIR).glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(entry, ignore_errors=True)


def _prune(update_dir: Path, *, keep: set[str]) -> None:
    """Remove every version directory but the active one and the one before it (kept for
    a rollback by hand: write its name into `current`)."""
    for entry in (update_dir / VERSIONS_DIR).iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def _write_atomically(path: Path, text: str) -> None:
    # A reader sees the old file or the new one, never half of one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _status_record(attempt: UpdateAttempt) -> dict[str, str]:
    return {
        "attempted_at": attempt.attempted_at.isoformat(),
        "result": attempt.result.value,
        "message": attempt.message,
        "active_version": attempt.active_version,
    }


def _read_status(update_dir: Path) -> dict[str, str]:
    try:
        return _parse_status((update_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def _parse_status(text: str) -> dict[str, str]:
    try:
        recorded = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(recorded, dict):
        return {}
    found = {key: value for key, value in recorded.items() if isinstance(value, str)}
    if found.get("result") not in set(UpdateResult):
        found.pop("result", None)  # a file edited by hand: no result rather than a wrong one
    return found


def _moment(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:  # a status file edited by hand
        return None


@contextlib.contextmanager
def _exclusive(update_dir: Path) -> Iterator[None]:
    """Workers sharing a volume take turns: the next one finds the update in place."""
    with (update_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class YtdlpUpdater:
    """A worker's daemon thread: an update at start, then one every interval. When the
    version new processes load is not this process's, `on_new_version` is called with it
    (the worker restarts itself once idle)."""

    def __init__(
        self,
        settings: Settings,
        client: redis.Redis,
        on_new_version: Callable[[str], None],
    ) -> None:
        self._settings = settings
        self._client = client
        self._on_new_version = on_new_version
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ytdlp-updater", daemon=True)

    @property
    def stopped(self) -> threading.Event:
        return self._stopped

    def start(self) -> None:
        if self._settings.ytdlp_update is not YtdlpUpdate.OFF:
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _switch_to(self, version: str) -> None:
        # Kept across the restart (execv keeps the environment): a process that restarted
        # for this version and still runs another must not restart again and again.
        if os.environ.get(RESTARTED_FOR) == version:
            logger.error(
                "this worker restarted to load yt-dlp %s but runs %s", version, running_version()
            )
            return
        os.environ[RESTARTED_FOR] = version
        self._on_new_version(version)

    def _run(self) -> None:
        interval = self._settings.ytdlp_update_interval_hours * 3600
        while not self._stopped.is_set():
            try:
                attempt = update_ytdlp(self._settings)
                if attempt is not None:
                    publish_status(self._client, attempt)
                wanted = active_version(self._settings)
            except Exception:
                logger.exception("the yt-dlp update failed")
            else:
                if wanted != running_version():
                    self._switch_to(wanted)
            if self._stopped.wait(interval):
                return
