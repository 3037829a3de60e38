"""The service's REST API as the command-line client sees it: JSON in and out, and every
failure turned into a `ClientError` that carries the process exit code."""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
PAGE_SIZE = 100
# A job id can be given by its first characters, as `yds jobs list` shows them; fewer than
# this many would match too much by chance to be typed with confidence.
MIN_PREFIX_LENGTH = 6
_PREFIX = re.compile(r"[0-9a-f][0-9a-f-]*")
_FILENAME = re.compile(r"filename\*=UTF-8''([^;]+)|filename=\"?([^\";]+)\"?", re.IGNORECASE)


class ExitCode(enum.IntEnum):
    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    AUTH = 3
    UNREACHABLE = 4
    RATE_LIMITED = 5  # HTTP 429: the message says when to retry
    AMBIGUOUS = 6  # a job id prefix that matches more than one job
    UNHEALTHY = 7  # `yds doctor` found a failing check
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class ClientError(Exception):
    """An expected failure: one line for the user, a stable code, and the exit code."""

    def __init__(
        self, code: str, message: str, exit_code: ExitCode, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_code = exit_code
        self.retry_after = retry_after

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return {"error": body}


def _exit_code_for(status: int) -> ExitCode:
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 429:
        return ExitCode.RATE_LIMITED
    if status >= 500:
        return ExitCode.UNREACHABLE
    return ExitCode.USAGE


@dataclass(frozen=True)
class SavedFile:
    path: Path
    size: int
    sha256: str


class ApiClient:
    """A sync client for one API URL and key. Use it as a context manager."""

    def __init__(self, api_url: str, api_key: str | None, *, timeout: float = 30.0) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(
                "bad_api_url", f"--api-url must be an http(s) URL, not {api_url!r}", ExitCode.USAGE
            )
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()

    @property
    def ws_url(self) -> str:
        return re.sub(r"^http", "ws", self.api_url, count=1)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The decoded JSON body (None for 204); any error status raises `ClientError`."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ClientError(
                "server_unreachable",
                f"Cannot reach the service at {self.api_url} ({type(exc).__name__}: {exc}).",
                ExitCode.UNREACHABLE,
            ) from None
        if response.status_code >= 400:
            raise _error_of(response)
        if response.status_code == 204 or not response.content:
            return None
        if not response.headers.get("content-type", "").startswith("application/json"):
            return response.text
        return response.json()

    # Jobs

    def resolve(self, job_id: str) -> str:
        """A job's full id from the id or a unique prefix of one of the key's submissions."""
        try:
            return str(uuid.UUID(job_id))
        except ValueError:
            pass
        prefix = job_id.strip().lower()
        if not _PREFIX.fullmatch(prefix):
            raise ClientError(
                "bad_job_id", f"{job_id!r} is not a job id (a UUID) or its start.", ExitCode.USAGE
            )
        if len(prefix.replace("-", "")) < MIN_PREFIX_LENGTH:
            raise ClientError(
                "job_id_prefix_too_short",
                f"{job_id!r} is too short: give at least {MIN_PREFIX_LENGTH} characters.",
                ExitCode.USAGE,
            )
        matches = [job["job_id"] for job in self.jobs() if job["job_id"].startswith(prefix)]
        if not matches:
            raise ClientError(
                "job_not_found", f"No job of yours starts with {job_id!r}.", ExitCode.USAGE
            )
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", …" if len(matches) > 5 else "")
            raise ClientError(
                "ambiguous_job_id",
                f"{job_id!r} matches {len(matches)} jobs ({shown}); give more characters.",
                ExitCode.AMBIGUOUS,
            )
        match: str = matches[0]
        return match

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        job: dict[str, Any] = self.request("POST", "/api/v1/downloads", json=body)
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.request("GET", f"/api/v1/downloads/{self.resolve(job_id)}")
        return job

    def jobs(
        self, *, status: str | None = None, parent_id: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The key's submissions (or a parent's entries), page by page, up to `limit`."""
        params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": 0}
        if status:
            params["status"] = status
        if parent_id:
            params["parent_id"] = self.resolve(parent_id)
        seen = 0
        while True:
            page = self.request("GET", "/api/v1/downloads", params=params)
            for item in page["items"]:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            params["offset"] += len(page["items"])
            if not page["items"] or params["offset"] >= page["total"]:
                return

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """The canceled job, or None when a finished job was deleted."""
        job: dict[str, Any] | None = self.request(
            "DELETE", f"/api/v1/downloads/{self.resolve(job_id)}"
        )
        return job

    def pause(self, job_id: str) -> dict[str, Any]:
        """The job paused, or (running) with its pause requested."""
        job: dict[str, Any] = self.request(
            "POST", f"/api/v1/downloads/{self.resolve(job_id)}/pause"
        )
        return job

    def resume(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.request(
            "POST", f"/api/v1/downloads/{self.resolve(job_id)}/resume"
        )
        return job

    def retry(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self.request(
            "POST", f"/api/v1/downloads/{self.resolve(job_id)}/retry"
        )
        return job

    def failures(self, *, parent_id: str | None = None) -> dict[str, Any]:
        """The key's failed and canceled submissions (or a family's entries) by error code."""
        params = {"parent_id": self.resolve(parent_id)} if parent_id else {}
        found: dict[str, Any] = self.request("GET", "/api/v1/downloads/failures", params=params)
        return found

    def retry_failures(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("parent_id"):
            body = {**body, "parent_id": self.resolve(body["parent_id"])}
        outcome: dict[str, Any] = self.request("POST", "/api/v1/downloads/retry", json=body)
        return outcome

    def transcript(
        self,
        job_id: str,
        *,
        lang: str | None,
        fmt: str,
        max_seconds: float | None = None,
        max_words: int | None = None,
        drop_sound_labels: bool = False,
    ) -> Any:
        given = {
            "lang": lang,
            "max_seconds": max_seconds,
            "max_words": max_words,
            "drop_sound_labels": "true" if drop_sound_labels else None,
        }
        params = {"format": fmt, **{name: value for name, value in given.items() if value}}
        return self.request(
            "GET", f"/api/v1/downloads/{self.resolve(job_id)}/transcript", params=params
        )

    # Look-ups, library, keys

    def info(self, url: str) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", "/api/v1/info", params={"url": url})
        return found

    def formats(self, url: str) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", "/api/v1/formats", params={"url": url})
        return found

    def search(self, query: str, *, limit: int) -> dict[str, Any]:
        params = {"q": query, "limit": limit}
        found: dict[str, Any] = self.request("GET", "/api/v1/library", params=params)
        return found

    def version(self) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", "/api/v1/version")
        return found

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", "/api/v1/stats")
        return found

    def timeseries(
        self, *, bucket: str, start: str | None, end: str | None, all_keys: bool
    ) -> dict[str, Any]:
        given = {"bucket": bucket, "from": start, "to": end,
                 "all_keys": "true" if all_keys else None}  # fmt: skip
        params = {name: value for name, value in given.items() if value is not None}
        found: dict[str, Any] = self.request("GET", "/api/v1/stats/timeseries", params=params)
        return found

    def doctor(self) -> dict[str, Any]:
        report: dict[str, Any] = self.request("GET", "/api/v1/admin/doctor")
        return report

    def create_key(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.request("POST", "/api/v1/admin/api-keys", json=body)
        return created

    def list_keys(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.request("GET", "/api/v1/admin/api-keys")
        return listed

    def revoke_key(self, key_id: str) -> None:
        self.request("DELETE", f"/api/v1/admin/api-keys/{_job_id(key_id)}")

    def upload_cookies(self, text: bytes) -> dict[str, Any]:
        status: dict[str, Any] = self.request(
            "PUT", "/api/v1/admin/cookies", content=text, headers={"Content-Type": "text/plain"}
        )
        return status

    def cookie_status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.request("GET", "/api/v1/admin/cookies")
        return status

    def remove_cookies(self) -> None:
        self.request("DELETE", "/api/v1/admin/cookies")

    # Subscriptions

    def subscriptions(self) -> Iterator[dict[str, Any]]:
        """The key's subscriptions, page by page."""
        params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": 0}
        while True:
            page = self.request("GET", "/api/v1/subscriptions", params=params)
            yield from page["items"]
            params["offset"] += len(page["items"])
            if not page["items"] or params["offset"] >= page["total"]:
                return

    def resolve_subscription(self, subscription_id: str) -> str:
        """A subscription's full id from the id or a unique start of it (as for jobs)."""
        try:
            return str(uuid.UUID(subscription_id))
        except ValueError:
            pass
        prefix = subscription_id.strip().lower()
        if not _PREFIX.fullmatch(prefix) or len(prefix.replace("-", "")) < MIN_PREFIX_LENGTH:
            raise ClientError(
                "bad_subscription_id",
                f"{subscription_id!r} is not a subscription id or its first "
                f"{MIN_PREFIX_LENGTH} characters.",
                ExitCode.USAGE,
            )
        matches = [s["id"] for s in self.subscriptions() if s["id"].startswith(prefix)]
        if not matches:
            raise ClientError(
                "subscription_not_found",
                f"No subscription of yours starts with {subscription_id!r}.",
                ExitCode.USAGE,
            )
        if len(matches) > 1:
            raise ClientError(
                "ambiguous_subscription_id",
                f"{subscription_id!r} matches {len(matches)} subscriptions; give more characters.",
                ExitCode.AMBIGUOUS,
            )
        match: str = matches[0]
        return match

    def _subscription_path(self, subscription_id: str) -> str:
        return f"/api/v1/subscriptions/{self.resolve_subscription(subscription_id)}"

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", self._subscription_path(subscription_id))
        return found

    def subscribe(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.request("POST", "/api/v1/subscriptions", json=body)
        return created

    def update_subscription(self, subscription_id: str, body: dict[str, Any]) -> dict[str, Any]:
        updated: dict[str, Any] = self.request(
            "PATCH", self._subscription_path(subscription_id), json=body
        )
        return updated

    def unsubscribe(self, subscription_id: str) -> None:
        self.request("DELETE", self._subscription_path(subscription_id))

    def check_subscription(self, subscription_id: str) -> dict[str, Any]:
        started: dict[str, Any] = self.request(
            "POST", f"{self._subscription_path(subscription_id)}/check"
        )
        return started

    def enable_feed(self, subscription_id: str, media: str) -> dict[str, Any]:
        feed: dict[str, Any] = self.request(
            "POST", f"{self._subscription_path(subscription_id)}/feed", json={"media": media}
        )
        return feed

    def revoke_feed(self, subscription_id: str) -> None:
        self.request("DELETE", f"{self._subscription_path(subscription_id)}/feed")

    # Files

    def save_file(self, stored: dict[str, Any], directory: Path, fallback_name: str) -> SavedFile:
        """Stream one of a job's files into `directory`, checking its sha256. Nothing is
        left behind when it fails. The key goes only to the API's own origin, never to
        a storage URL it redirects to."""
        directory.mkdir(parents=True, exist_ok=True)
        partial = directory / f".{uuid.uuid4().hex}.part"
        try:
            with self._open_file(stored["url"]) as response:
                name = _safe_name(_disposition_name(response) or fallback_name)
                digest = hashlib.sha256()
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            if digest.hexdigest() != stored["sha256"]:
                raise ClientError(
                    "checksum_mismatch",
                    f"{name}: the downloaded bytes do not match the job's sha256.",
                    ExitCode.JOB_FAILED,
                )
            target = directory / name
            partial.replace(target)
            return SavedFile(target, target.stat().st_size, stored["sha256"])
        finally:
            partial.unlink(missing_ok=True)

    def _open_file(self, url: str, hops: int = 5) -> Any:
        for _ in range(hops):
            ours = _same_origin(url, self.api_url)
            request = self._http.build_request("GET", url)
            if not ours:
                request.headers.pop("X-API-Key", None)
            try:
                response = self._http.send(request, stream=True, follow_redirects=False)
            except httpx.TransportError as exc:
                raise ClientError(
                    "server_unreachable", f"Cannot fetch {url}: {exc}", ExitCode.UNREACHABLE
                ) from None
            if response.is_redirect:
                url = str(response.next_request.url) if response.next_request else url
                response.close()
                continue
            if response.status_code >= 400:
                response.read()
                response.close()
                raise _error_of(response)
            return _Streamed(response)
        raise ClientError("too_many_redirects", f"Too many redirects for {url}", ExitCode.USAGE)


class _Streamed:
    """A streamed response that closes itself."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __enter__(self) -> httpx.Response:
        return self._response

    def __exit__(self, *_exc: object) -> None:
        self._response.close()


def _error_of(response: httpx.Response) -> ClientError:
    code, message = f"http_{response.status_code}", response.reason_phrase or "request failed"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
        message = str(body["error"].get("message") or message)
    elif isinstance(body, dict) and body.get("rejected"):  # a batch with nothing accepted
        code = "no_valid_urls"
    retry_after = _retry_after(response)
    if retry_after is not None and "retry in" not in message.lower():
        message = f"{message} Retry in {retry_after} s."
    return ClientError(code, message, _exit_code_for(response.status_code), retry_after=retry_after)


def _retry_after(response: httpx.Response) -> int | None:
    """Seconds from a Retry-After header (the service sends seconds, never a date)."""
    value = response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else None


def _job_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ClientError(
            "bad_job_id", f"{value!r} is not a job id (a UUID).", ExitCode.USAGE
        ) from None


def _same_origin(url: str, api_url: str) -> bool:
    target, api = urlsplit(url), urlsplit(api_url)
    return not target.netloc or (target.scheme, target.netloc) == (api.scheme, api.netloc)


def _disposition_name(response: httpx.Response) -> str | None:
    match = _FILENAME.search(response.headers.get("content-disposition", ""))
    if match is None:
        return None
    return unquote(match.group(1)) if match.group(1) else match.group(2)


def _safe_name(name: str) -> str:
    """A plain file name: no directories, nothing hidden."""
    cleaned = Path(name.replace("\\", "/")).name.strip().lstrip(".")
    return cleaned or "download"
