"""Several connections per download: one plain HTTP(S) file fetched as byte ranges at once.

Media hosts (YouTube's among them) throttle each connection, so N ranges in flight fetch a
file up to N times as fast. `RangedHttpFD` takes yt-dlp's place for a single-file format
whose host answers a Range request with 206 and the file's size; anything else (no Range
support, an unknown size, a request with a body, stdout) goes to yt-dlp's own downloader.

The file is cut into chunks that N threads fetch through `ydl.urlopen`, so every request
goes through the job's egress guard like any other. Chunks are written to the `.part` file
strictly in order by the calling thread: the file only ever grows at its end and is always
a prefix of the media, exactly as with a single stream. A chunk that arrives before the ones
ahead of it waits in memory (at most `window` chunks are fetched ahead of the file's end).
After a kill the next attempt continues from the `.part` file's size, every connection with
a Range request; what was in memory is fetched again. A `.part` file that already holds
the whole file (killed between its last byte and its rename) is finished without a fetch.

Several connections only pay where a host throttles each one. The first chunk is read
alone for up to `PROBE_SECONDS`: when it is all there by then, at `SINGLE_STREAM_SPEED` or
more, one connection is not throttled and the rest of the file goes to yt-dlp's own single
stream (from the `.part` file's end, with a Range), which costs less than a new request
through the egress guard for every chunk.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.downloader import get_suitable_downloader
from yt_dlp.downloader.http import HttpFD
from yt_dlp.networking import Request
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils import parse_http_range
from yt_dlp.utils.networking import HTTPHeaderDict

from app.downloads.engine.pacing import MIN_READ, pace

MIN_CHUNK = 256 * 1024
MAX_CHUNK = 2 * 1024 * 1024
PROBE_SECONDS = 0.25
SINGLE_STREAM_SPEED = 32 * 1024 * 1024  # bytes a second one connection gets at least
_PROGRESS_EVERY = 0.25  # seconds between progress hooks while chunks arrive
_RETRY_PAUSE = 0.5


class RangesUnsupported(Exception):
    """The host does not serve this file in byte ranges; fetch it in one stream."""


class DownloadAborted(Exception):
    """The job's other download stopped, so this one did too."""


class OneStreamSuffices(Exception):
    """One connection already gets the bytes fast: the rest of the file in one stream."""


class _Stopped(Exception):
    """The download was stopped (cancel, or another range failed)."""


@dataclass
class _HostSlots:
    semaphore: threading.BoundedSemaphore
    users: int = 0


# Only the hosts downloads are fetching from now: a worker meets a new media host
# (rrN---sn-….googlevideo.com) every few videos, and kept, they would pile up for its life.
_host_limits: dict[str, _HostSlots] = {}
_host_limits_lock = threading.Lock()


@contextmanager
def host_slots(host: str, limit: int) -> Iterator[threading.BoundedSemaphore]:
    """The process-wide semaphore bounding connections to `host` (created with `limit`),
    shared by the downloads from it at the same time and forgotten after the last."""
    with _host_limits_lock:
        slots = _host_limits.get(host)
        if slots is None:
            slots = _host_limits[host] = _HostSlots(threading.BoundedSemaphore(limit))
        slots.users += 1
    try:
        yield slots.semaphore
    finally:
        with _host_limits_lock:
            slots.users -= 1
            if slots.users == 0 and _host_limits.get(host) is slots:
                del _host_limits[host]


def chunk_size_for(remaining: int, connections: int) -> int:
    """About four chunks a connection, so the last ones finish close together."""
    return max(MIN_CHUNK, min(MAX_CHUNK, remaining // (connections * 4) or MIN_CHUNK))


@dataclass
class _Plan:
    """What the threads share; every field is read and written under `cv`."""

    chunks: list[tuple[int, int]]  # inclusive byte ranges, in file order
    window: int
    cv: threading.Condition = field(default_factory=threading.Condition)
    next_chunk: int = 0  # the next chunk a thread takes
    next_write: int = 0  # the next chunk to append to the file
    ready: dict[int, bytearray] = field(default_factory=dict)
    received: dict[int, int] = field(default_factory=dict)  # bytes so far of chunks in flight
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def take(self) -> int | None:
        with self.cv:
            while not self.stop.is_set() and self.next_chunk < len(self.chunks):
                if self.next_chunk < self.next_write + self.window:
                    index = self.next_chunk
                    self.next_chunk += 1
                    self.received[index] = 0
                    return index
                self.cv.wait(0.5)
            return None

    def deliver(self, index: int, data: bytearray) -> None:
        with self.cv:
            self.ready[index] = data
            self.cv.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.cv:
            if self.error is None:
                self.error = exc
            self.stop.set()
            self.cv.notify_all()

    def in_memory(self) -> int:
        with self.cv:
            return sum(self.received.values())


class RangedHttpFD(HttpFD):  # type: ignore[misc]  # yt-dlp has no type hints
    """yt-dlp's HTTP downloader, fetching over `connections` parallel byte ranges."""

    def __init__(
        self,
        ydl: Any,
        params: dict[str, Any],
        *,
        connections: int,
        per_host: int,
        budget: threading.BoundedSemaphore | None = None,
        abort: threading.Event | None = None,
    ) -> None:
        super().__init__(ydl, params)
        self.connections = max(1, connections)
        self.per_host = max(1, per_host)
        # Connections this download shares with another one of the same job (its audio).
        self.budget = budget or threading.BoundedSemaphore(self.connections)
        self.abort = abort or threading.Event()

    def real_download(self, filename: str, info_dict: dict[str, Any]) -> bool:
        if self._plain(filename, info_dict) and self._part_already_whole(filename, info_dict):
            return True
        if not self._eligible(filename, info_dict):
            return bool(super().real_download(filename, info_dict))
        try:
            return self._ranged_download(filename, info_dict)
        except (RangesUnsupported, OneStreamSuffices):
            return bool(super().real_download(filename, info_dict))

    def _eligible(self, filename: str, info_dict: dict[str, Any]) -> bool:
        return self.connections > 1 and self._plain(filename, info_dict)

    def _plain(self, filename: str, info_dict: dict[str, Any]) -> bool:
        """One HTTP(S) file into a named file: no body, no Range of its own, no impersonation."""
        headers = info_dict.get("http_headers") or {}
        return (
            filename != "-"
            and not self.params.get("test")
            and info_dict.get("request_data") is None
            and "Range" not in headers
            and "range" not in headers
            and str(info_dict.get("url", "")).startswith(("http://", "https://"))
            and self._get_impersonate_target(info_dict) is None
        )

    def _part_already_whole(self, filename: str, info_dict: dict[str, Any]) -> bool:
        """Finish a `.part` file that holds the whole media already (a worker killed, or a
        job paused, between its last byte and its rename); drop one longer than the media.

        yt-dlp's own downloader answers either case with a 416 it does not recover from: its
        check without a Range still sends the Range (yt-dlp issue 12994). A `.part` file
        shorter than the format's known size is a plain resume and costs no request here."""
        tmpfilename = self.temp_name(filename)
        if not self.params.get("continuedl", True) or not os.path.isfile(tmpfilename):
            return False
        have = os.path.getsize(tmpfilename)
        known = info_dict.get("filesize")
        if not have or (known and have < int(known)):
            return False
        try:
            response = self.ydl.urlopen(self._request(info_dict, have, have))
        except HTTPError as err:
            if err.status != 416:
                return False  # the download proper meets it again, with its retries
            size = _unsatisfied_size(err.response.headers.get("Content-Range"))
            err.response.close()
        except TransportError:
            return False  # the download proper meets it again, with its retries
        else:
            response.close()
            return False  # more to fetch: an ordinary resume
        if size != have:
            self.report_unable_to_resume()
            os.remove(tmpfilename)
            return False
        self.report_file_already_downloaded(filename)
        self.try_rename(tmpfilename, filename)
        self._hook_progress(
            {
                "filename": filename,
                "status": "finished",
                "downloaded_bytes": have,
                "total_bytes": have,
                "ctx_id": info_dict.get("ctx_id"),
            },
            info_dict,
        )
        return True

    def _request(self, info_dict: dict[str, Any], start: int, end: int) -> Request:
        headers = HTTPHeaderDict({"Accept-Encoding": "identity"}, info_dict.get("http_headers"))
        headers["Range"] = f"bytes={start}-{end}"
        return Request(info_dict["url"], None, headers)

    def _open(self, info_dict: dict[str, Any], start: int, end: int) -> tuple[Any, int]:
        """A response for bytes start..end and the file's full size; RangesUnsupported when
        the answer is not that range (a 200 with the whole file, no Content-Range)."""
        try:
            response = self.ydl.urlopen(self._request(info_dict, start, end))
        except HTTPError as err:
            if err.status == 416:
                raise RangesUnsupported from err  # yt-dlp's own handling knows this case
            raise
        first, _last, total = parse_http_range(response.headers.get("Content-Range"))
        if response.status != 206 or first != start or not total:
            response.close()
            raise RangesUnsupported
        return response, int(total)

    def _ranged_download(self, filename: str, info_dict: dict[str, Any]) -> bool:
        tmpfilename = self.temp_name(filename)
        resume = 0
        if self.params.get("continuedl", True) and os.path.isfile(tmpfilename):
            resume = os.path.getsize(tmpfilename)
        started = time.time()
        # The first request is the first chunk: its size from the size yt-dlp expects.
        expected = info_dict.get("filesize") or info_dict.get("filesize_approx")
        first_size = chunk_size_for(int(expected) - resume, self.connections) if expected else 0
        probe_end = resume + (first_size or MIN_CHUNK) - 1
        asked = time.monotonic()
        probe, total = self._open(info_dict, resume, probe_end)
        max_size = self.params.get("max_filesize")
        if max_size is not None and total > max_size:
            probe.close()
            self.to_screen(
                f"\r[download] File is larger than max-filesize ({total} bytes > "
                f"{max_size} bytes). Aborting."
            )
            return False
        remaining = total - resume
        size = chunk_size_for(remaining, self.connections)
        first_end = min(probe_end, total - 1)
        chunks = [(resume, first_end)] + [
            (start, min(start + size, total) - 1) for start in range(first_end + 1, total, size)
        ]
        head, probe = self._probe(probe, first_end - resume + 1)
        if len(chunks) > 1 and _one_stream_suffices(len(head), first_end - resume + 1, asked):
            probe.close()
            with open(tmpfilename, "ab") as stream:
                stream.truncate(resume)
                stream.write(head)
            raise OneStreamSuffices
        plan = _Plan(chunks=chunks, window=self.connections + 1)
        plan.received[0] = len(head)
        host = urlsplit(info_dict["url"]).netloc
        # Held until the range threads stopped (or were given up on after 2 s).
        with host_slots(host, self.per_host) as slots:
            threads = [
                threading.Thread(
                    target=self._fetch_loop,
                    args=(plan, info_dict, slots, (probe, head) if n == 0 else (None, None)),
                    name=f"range-{n}",
                    daemon=True,
                )
                for n in range(min(self.connections, len(chunks)))
            ]
            self.report_destination(filename)
            if resume:
                self.report_resuming_byte(resume)
            try:
                for thread in threads:
                    thread.start()
                self._write_in_order(plan, tmpfilename, filename, resume, total, started, info_dict)
            finally:
                plan.stop.set()
                with plan.cv:
                    plan.cv.notify_all()
                if probe is not None:
                    probe.close()
                deadline = time.monotonic() + 2
                for thread in threads:
                    thread.join(max(0.0, deadline - time.monotonic()))
        self.try_rename(tmpfilename, filename)
        self._hook_progress(
            {
                "downloaded_bytes": total,
                "total_bytes": total,
                "filename": filename,
                "status": "finished",
                "elapsed": time.time() - started,
                "ctx_id": info_dict.get("ctx_id"),
            },
            info_dict,
        )
        return True

    def _write_in_order(
        self,
        plan: _Plan,
        tmpfilename: str,
        filename: str,
        resume: int,
        total: int,
        started: float,
        info_dict: dict[str, Any],
    ) -> None:
        written = resume
        last_report = 0.0
        with open(tmpfilename, "ab") as stream:
            if stream.tell() != resume:
                stream.truncate(resume)
            while True:
                with plan.cv:
                    while (
                        plan.error is None
                        and plan.next_write not in plan.ready
                        and time.monotonic() - last_report < _PROGRESS_EVERY
                    ):
                        plan.cv.wait(_PROGRESS_EVERY)
                    if plan.error is not None:
                        raise plan.error
                    if self.abort.is_set():
                        raise DownloadAborted
                    batch = []
                    while plan.next_write in plan.ready:
                        batch.append(plan.ready.pop(plan.next_write))
                        plan.received.pop(plan.next_write, None)
                        plan.next_write += 1
                    finished = plan.next_write == len(plan.chunks)
                    if batch:
                        plan.cv.notify_all()  # the window moved
                for data in batch:
                    stream.write(data)
                    written += len(data)
                if batch:
                    stream.flush()
                now = time.time()
                done = written + plan.in_memory()
                speed = self.calc_speed(started, now, done - resume)
                last_report = time.monotonic()
                self._hook_progress(
                    {
                        "status": "downloading",
                        "downloaded_bytes": done,
                        "total_bytes": total,
                        "tmpfilename": tmpfilename,
                        "filename": filename,
                        "eta": self.calc_eta(started, now, total - resume, done - resume),
                        "speed": speed,
                        "elapsed": now - started,
                        "ctx_id": info_dict.get("ctx_id"),
                    },
                    info_dict,
                )
                if finished:
                    break
        if written != total:
            raise TransportError(f"ranged download ended at {written} of {total} bytes")

    def _fetch_loop(
        self,
        plan: _Plan,
        info_dict: dict[str, Any],
        slots: threading.BoundedSemaphore,
        first: tuple[Any, bytearray | None],
    ) -> None:
        probe, head = first
        try:
            while (index := plan.take()) is not None:
                with _slot(self.budget, plan.stop), _slot(slots, plan.stop):
                    data = self._fetch(plan, index, info_dict, probe, head)
                probe, head = None, None
                plan.deliver(index, data)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the writing thread, which raises it
            plan.fail(exc)

    def _probe(self, response: Any, length: int) -> tuple[bytearray, Any]:
        """What of the first chunk arrives within PROBE_SECONDS, and the response to read
        the rest from (None when it broke: the chunk's thread asks again from where it
        stopped)."""
        head = bytearray()
        block = MIN_READ
        deadline = time.monotonic() + PROBE_SECONDS
        try:
            while len(head) < length and time.monotonic() < deadline:
                began = time.monotonic()
                data = response.read(min(block, length - len(head)))
                if not data:
                    raise TransportError("connection closed")
                head += data
                block = pace(time.monotonic() - began, len(data))
        except TransportError:
            response.close()
            return head, None
        return head, response

    def _fetch(
        self,
        plan: _Plan,
        index: int,
        info_dict: dict[str, Any],
        response: Any,
        head: bytearray | None = None,
    ) -> bytearray:
        start, end = plan.chunks[index]
        length = end - start + 1
        buffer = head if head is not None else bytearray()
        block = MIN_READ  # then paced: a tenth of a second of bytes (few reads on a fast link)
        retries = int(self.params.get("retries") or 0)
        failures = 0
        while len(buffer) < length:
            if plan.stop.is_set():
                raise _Stopped
            try:
                if response is None:
                    response, _ = self._open(info_dict, start + len(buffer), end)
                while len(buffer) < length:
                    began = time.monotonic()
                    data = response.read(min(block, length - len(buffer)))
                    if not data:
                        raise TransportError(f"connection closed at byte {start + len(buffer)}")
                    buffer += data
                    block = pace(time.monotonic() - began, len(data))
                    plan.received[index] = len(buffer)
                    if plan.stop.is_set():
                        raise _Stopped
            except (TransportError, HTTPError) as err:
                if isinstance(err, HTTPError) and not 500 <= err.status < 600:
                    raise
                failures += 1
                if failures > retries:
                    raise
                self.report_retry(err, failures, retries)
                if plan.stop.wait(_RETRY_PAUSE):
                    raise _Stopped from err
            finally:
                if response is not None and (len(buffer) == length or plan.stop.is_set()):
                    response.close()
            if len(buffer) < length:
                if response is not None:
                    response.close()
                response = None
        return buffer


@contextmanager
def _slot(slots: threading.BoundedSemaphore, stop: threading.Event) -> Iterator[None]:
    while not slots.acquire(timeout=0.5):
        if stop.is_set():
            raise _Stopped
    try:
        yield
    finally:
        slots.release()


class MultiConnectionYoutubeDL(yt_dlp.YoutubeDL):  # type: ignore[misc]
    """A YoutubeDL that fetches a plain HTTP(S) media file over several connections, and the
    audio of a video+audio pair while the video downloads (yt-dlp fetches them one after
    the other), both sharing the download's connections. With one connection a plain file
    still goes through `RangedHttpFD`, for its check of a whole `.part` file, then to
    yt-dlp's single stream. Other downloads (fragments, subtitles, stdout) go to the
    downloader yt-dlp picks."""

    def __init__(self, params: dict[str, Any], *, connections: int = 1, per_host: int = 1) -> None:
        super().__init__(params)
        self.connections = connections
        self.per_host = per_host
        self._pair: list[dict[str, Any]] = []
        self._prefetched: dict[str, tuple[Future[Any], threading.Event]] = {}
        self._budget = threading.BoundedSemaphore(max(1, connections))

    def process_info(self, info_dict: dict[str, Any]) -> Any:
        formats = info_dict.get("requested_formats") or []
        self._pair = [dict(f) for f in formats] if len(formats) == 2 else []
        self._budget = threading.BoundedSemaphore(max(1, self.connections))
        try:
            return super().process_info(info_dict)
        finally:
            self._pair = []
            pending, self._prefetched = self._prefetched, {}
            for future, abort in pending.values():
                abort.set()
                with suppress(BaseException):
                    future.exception(timeout=10)

    def dl(
        self, name: str, info: dict[str, Any], subtitle: bool = False, test: bool = False
    ) -> Any:
        prefetched = self._prefetched.pop(name, None)
        if prefetched is not None:
            return prefetched[0].result()
        if not self._ranged(name, info, subtitle=subtitle, test=test):
            return super().dl(name, info, subtitle=subtitle, test=test)
        self._prefetch_pair(name, info)
        return self._ranged_dl(name, info, threading.Event())

    def _ranged(self, name: str, info: dict[str, Any], *, subtitle: bool, test: bool) -> bool:
        if test or subtitle or name == "-" or not info.get("url"):
            return False
        return get_suitable_downloader(info, self.params) is HttpFD

    def _ranged_dl(self, name: str, info: dict[str, Any], abort: threading.Event) -> Any:
        fd = RangedHttpFD(
            self,
            self.params,
            connections=self.connections,
            per_host=self.per_host,
            budget=self._budget,
            abort=abort,
        )
        for hook in self._progress_hooks:
            fd.add_progress_hook(hook)
        new_info = self._copy_infodict(info)
        if new_info.get("http_headers") is None:
            new_info["http_headers"] = self._calc_headers(new_info)
        return fd.download(name, new_info, False)

    def _prefetch_pair(self, name: str, info: dict[str, Any]) -> None:
        """When yt-dlp starts the first of a video+audio pair, start the second beside it,
        into the file yt-dlp will ask for next (its name follows from the first's)."""
        if (
            self.connections <= 1
            or not self._pair
            or str(info.get("format_id")) != str(self._pair[0].get("format_id"))
        ):
            return
        first, second = self._pair
        suffix = f".f{first['format_id']}.{first['ext']}"
        if not name.endswith(suffix):
            return
        second_name = f"{name[: -len(suffix)]}.f{second['format_id']}.{second['ext']}"
        second_info = {**info, **second}
        if second_name in self._prefetched or not self._ranged(
            second_name, second_info, subtitle=False, test=False
        ):
            return
        future: Future[Any] = Future()
        abort = threading.Event()

        def fetch() -> None:
            try:
                future.set_result(self._ranged_dl(second_name, second_info, abort))
            except BaseException as exc:  # raised where yt-dlp asks for this file
                future.set_exception(exc)

        self._prefetched[second_name] = (future, abort)
        threading.Thread(target=fetch, name="second-format", daemon=True).start()


def _unsatisfied_size(content_range: str | None) -> int | None:
    """The full size a 416 answer states (`Content-Range: bytes */SIZE`), if it does."""
    match = re.fullmatch(r"\s*bytes\s+\*/(\d+)\s*", content_range or "")
    return int(match.group(1)) if match else None


def _one_stream_suffices(got: int, length: int, asked: float) -> bool:
    """The whole first chunk came at SINGLE_STREAM_SPEED or more, its request included."""
    return got == length and got >= SINGLE_STREAM_SPEED * (time.monotonic() - asked)
