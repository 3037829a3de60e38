"""Serving a stored file: HTTP Range per RFC 9110, and nothing damaged served as whole.

A whole local file is streamed through `storage.base.verified`, which holds the last chunk
back until the bytes are known to match the recorded SHA-256: on a mismatch the response
is aborted (the client sees an incomplete body, never a clean 200) and the file is marked
`corrupt`. A file already marked corrupt or missing is refused before anything is sent.

Ranges, checked against the recorded size whichever the storage:
- one satisfiable `bytes` range: 206 with that slice (S3: the redirect, S3 serves it);
- no satisfiable range: 416 `range_not_satisfiable`, `Content-Range: bytes */SIZE`;
- a malformed `bytes` range set: 400 `invalid_range`;
- another unit, several ranges, or an `If-Range` that does not match the ETag (the
  SHA-256): the Range header is ignored and the whole file is sent (200, verified).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import anyio
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from starlette.requests import Request

from app.api.state import AppState
from app.downloads.exceptions import (
    FileCorrupt,
    FileNotFound,
    InvalidRange,
    RangeNotSatisfiable,
)
from app.jobs.models import FileState, JobFile
from app.jobs.repository import set_file_state
from app.storage.base import CHUNK_SIZE, ContentMismatch, RemoteFile, StorageHandler, verified

logger = logging.getLogger(__name__)

_RANGE_SPEC = re.compile(r"(\d*)-(\d*)")


@dataclass(frozen=True)
class ByteRange:
    """Inclusive first and last byte positions, within the file."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range to serve, or None for the whole file (no Range header, or one this
    server ignores: another unit, or several ranges). Raises InvalidRange or
    RangeNotSatisfiable."""
    if header is None:
        return None
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None  # RFC 9110 14.2: a range unit the server does not support is ignored
    parts = [part.strip() for part in specs.split(",") if part.strip()]
    if not parts:
        raise InvalidRange("The Range header names no byte range.")
    ranges = [_satisfiable(_parse_spec(part), size) for part in parts]
    satisfiable = [each for each in ranges if each is not None]
    if not satisfiable:
        raise RangeNotSatisfiable(size)
    return satisfiable[0] if len(ranges) == 1 else None


def _parse_spec(part: str) -> tuple[int | None, int | None]:
    match = _RANGE_SPEC.fullmatch(part)
    if match is None or match.group(1) == match.group(2) == "":
        raise InvalidRange(f"{part!r} is not a byte range (first-last, first- or -suffix).")
    first = int(match.group(1)) if match.group(1) else None
    last = int(match.group(2)) if match.group(2) else None
    if first is not None and last is not None and last < first:
        raise InvalidRange(f"{part!r} ends before it starts.")
    return first, last


def _satisfiable(spec: tuple[int | None, int | None], size: int) -> ByteRange | None:
    first, last = spec
    if first is None:  # a suffix: the last `last` bytes
        if not last or not size:
            return None
        return ByteRange(max(size - last, 0), size - 1)
    if first >= size:
        return None
    return ByteRange(first, size - 1 if last is None else min(last, size - 1))


async def file_response(
    request: Request,
    state: AppState,
    storage: StorageHandler,
    stored: JobFile,
    *,
    filename: str,
    media_type: str,
) -> Response:
    """The response for GET or HEAD of a stored file (see the module's docstring)."""
    if stored.state is FileState.CORRUPT:
        raise FileCorrupt()
    if stored.state is FileState.MISSING:
        raise FileNotFound("The file is missing from storage; retry the job to fetch it again.")
    wanted = parse_range(request.headers.get("range"), stored.size)
    etag = f'"{stored.sha256}"'
    if wanted is not None and request.headers.get("if-range", etag) != etag:
        wanted = None
    location = storage.locate(stored.storage_key, filename=filename, media_type=media_type)
    if isinstance(location, RemoteFile):
        return RedirectResponse(location.url, status_code=307)
    path = location.path
    try:
        on_disk = path.stat().st_size if path.is_file() else None
    except FileNotFoundError:
        on_disk = None
    if on_disk is None:
        await _mark(state, stored, FileState.MISSING)
        raise FileNotFound("The file is missing from storage; retry the job to fetch it again.")
    if on_disk != stored.size:
        await _mark(state, stored, FileState.CORRUPT)
        raise FileCorrupt()
    headers = {
        "accept-ranges": "bytes",
        "etag": etag,
        "content-disposition": _disposition(filename),
    }
    if wanted is not None:
        headers["content-range"] = f"bytes {wanted.first}-{wanted.last}/{stored.size}"
    status = 200 if wanted is None else 206
    length = stored.size if wanted is None else wanted.length
    if request.method == "HEAD":
        headers["content-length"] = str(length)
        return Response(status_code=status, headers=headers, media_type=media_type)
    if wanted is not None:
        body = _read(path, wanted.first, wanted.length)
    else:
        body = _verified_whole(state, stored, path)
    headers["content-length"] = str(length)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


async def _read(path: Path, offset: int, length: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as stream:
        await stream.seek(offset)
        while length > 0:
            chunk = await stream.read(min(CHUNK_SIZE, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


async def _verified_whole(state: AppState, stored: JobFile, path: Path) -> AsyncIterator[bytes]:
    try:
        async for chunk in verified(
            _read(path, 0, stored.size + 1), size=stored.size, sha256=stored.sha256
        ):
            yield chunk
    except (ContentMismatch, FileNotFoundError) as exc:
        found = FileState.MISSING if isinstance(exc, FileNotFoundError) else FileState.CORRUPT
        logger.warning("file %s is %s (%s); response aborted", stored.storage_key, found, exc)
        await _mark(state, stored, found)
        raise


async def _mark(state: AppState, stored: JobFile, found: FileState) -> None:
    """Record what serving the file found, in a session of its own: the request's may be
    gone by the time the body is streamed."""
    async with state.sessions() as session:
        await session.run_sync(set_file_state, stored.id, found, sha256=stored.sha256)
        await session.commit()


def _disposition(filename: str) -> str:
    quoted = quote(filename)
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'
