"""The client's commands: download, info, formats, transcript, jobs, library, stats (and its
time series). Each talks to the service's API; `app/cli.py` mounts them next to the admin
commands."""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from app.client import progress
from app.client.api import DEFAULT_API_URL, ApiClient, ClientError, ExitCode, SavedFile
from app.client.output import (
    emit,
    expected_errors,
    fail,
    print_retry_outcome,
    seconds,
    size,
    stderr,
    stdout,
    usage_error,
)

ApiUrl = Annotated[
    str,
    typer.Option("--api-url", envvar="YDS_API_URL", help="The service's base URL."),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", envvar="YDS_API_KEY", help="Your API key.", show_default=False),
]
Json = Annotated[
    bool, typer.Option("--json", envvar="YDS_JSON", help="Machine-readable JSON on stdout.")
]
JobArg = Annotated[str, typer.Argument(metavar="JOB", help="A job id or its unique start.")]

jobs_app = typer.Typer(
    help="List, show, pause, resume, cancel and retry your jobs.", no_args_is_help=True
)
library_app = typer.Typer(help="Search your downloaded videos.", no_args_is_help=True)
cookies_app = typer.Typer(
    help="The YouTube cookies every download sends (admin key): upload, show, remove.",
    no_args_is_help=True,
)
FAILED = frozenset({"failed", "canceled"})
WATCH_INTERVAL_SECONDS = 0.5
DISTRIBUTION = "youtube-download-service"  # the client is installed with the service


def download(
    urls: Annotated[
        list[str] | None, typer.Argument(help="Video, playlist or channel URLs.")
    ] = None,
    batch: Annotated[
        Path | None, typer.Option(help="A file of URLs, one a line (# comments allowed).")
    ] = None,
    watch: Annotated[
        Path | None, typer.Option(help="Keep watching a file; submit lines as they are appended.")
    ] = None,
    from_start: Annotated[
        bool, typer.Option(help="With --watch: also submit the lines already in the file.")
    ] = False,
    quality: Annotated[str | None, typer.Option(help="best, worst, 2160p … 360p.")] = None,
    audio_only: Annotated[bool, typer.Option(help="Keep only the audio.")] = False,
    audio_format: Annotated[str | None, typer.Option(help="mp3, m4a, wav, flac, opus.")] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="Container: mp4, webm or mkv.")
    ] = None,
    subs: Annotated[str | None, typer.Option(help='Subtitle languages: "en,es" or "all".')] = None,
    sub_formats: Annotated[
        str | None, typer.Option(help="Any of srt,vtt,txt,json,md (default srt,vtt,txt,json).")
    ] = None,
    drop_sound_labels: Annotated[
        bool, typer.Option(help="Leave [Music] and the like out of the txt and md files.")
    ] = False,
    transcript_only: Annotated[bool, typer.Option(help="Only the transcript.")] = False,
    playlist: Annotated[
        bool, typer.Option("--playlist", help="A watch URL with list=: the whole playlist.")
    ] = False,
    playlist_items: Annotated[
        str | None, typer.Option(help='Playlist entries, such as "1-5,8".')
    ] = None,
    max_items: Annotated[int | None, typer.Option(min=1, help="At most N entries.")] = None,
    priority: Annotated[
        str | None,
        typer.Option(help="low, normal or high: workers take high jobs first (default normal)."),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Show live progress until the jobs end.")] = False,
    output: Annotated[
        Path | None, typer.Option(help="Save the finished files into DIR (implies --wait).")
    ] = None,
    cancel_on_interrupt: Annotated[
        bool, typer.Option(help="Ctrl-C during --wait cancels the jobs instead of detaching.")
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Queue downloads; with --wait follow them live, with --output save the files."""
    body = request_body(
        quality=quality,
        audio_only=audio_only or None,
        audio_format=audio_format,
        output_format=output_format,
        subtitle_languages=comma_list(subs),
        subtitle_formats=comma_list(sub_formats),
        drop_sound_labels=drop_sound_labels or None,
        transcript_only=transcript_only or None,
        playlist=playlist or None,
        playlist_items=playlist_items,
        max_items=max_items,
        priority=priority,
    )
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        if watch is not None:
            if urls or batch or wait or output:
                usage_error("--watch takes no URLs, --batch, --wait or --output.", as_json)
            _watch_file(api, watch, body, from_start=from_start, as_json=as_json)
            return
        targets = [*(urls or []), *(_read_batch(batch, as_json) if batch else [])]
        if not targets:
            usage_error("Give one or more URLs, --batch FILE or --watch FILE.", as_json)
        accepted, rejected = _submit_all(api, targets, body, as_json)
        if not (wait or output) or not accepted:
            emit({"jobs": accepted, "rejected": rejected}, as_json, lambda: _print_queued(accepted))
            raise typer.Exit(int(ExitCode.USAGE if rejected else ExitCode.OK))
        finals = _follow(api, accepted, cancel_on_interrupt, as_json, output)
        saved = _save_all(api, finals, output) if output else []
        report = {"jobs": finals, "rejected": rejected, "saved": [_saved(s) for s in saved]}
        emit(report, as_json, lambda: _print_finished(finals, saved))
    failed = any(job["status"] in FAILED for job in finals)
    raise typer.Exit(int(ExitCode.USAGE if rejected else ExitCode.JOB_FAILED if failed else 0))


def request_body(**values: Any) -> dict[str, Any]:
    """The request body: only what was asked for, the service's defaults for the rest."""
    return {name: value for name, value in values.items() if value is not None}


def comma_list(value: str | None) -> list[str] | str | None:
    if value is None:
        return None
    if value.strip() == "all":
        return "all"
    return [part.strip() for part in value.split(",") if part.strip()]


def _read_batch(path: Path, as_json: bool) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        usage_error(f"Cannot read {path}: {exc.strerror}", as_json)
    return [url for url in (_url_of(line) for line in lines) if url]


def _url_of(line: str) -> str | None:
    """A batch line's URL: blank lines and # comments (whole or trailing) are skipped."""
    text = line.split(" #", 1)[0].strip()
    return None if not text or text.startswith("#") else text


def _submit_all(
    api: ApiClient, urls: list[str], body: dict[str, Any], as_json: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for url in urls:
        try:
            accepted.append(api.submit({"url": url, **body}))
        except ClientError as error:
            if error.exit_code is not ExitCode.USAGE:
                raise  # no key, a bad key, or no service: nothing else will work either
            rejected.append({"url": url, **error.as_json()})
            if not as_json:
                stderr.print(
                    f"[red]error:[/red] {escape(url)}: {escape(error.message)} "
                    f"[dim]({escape(error.code)})"
                )
    return accepted, rejected


def _follow(
    api: ApiClient,
    jobs: list[dict[str, Any]],
    cancel_on_interrupt: bool,
    as_json: bool,
    output: Path | None = None,
) -> list[dict[str, Any]]:
    try:
        return progress.follow(api, jobs, stderr)
    except KeyboardInterrupt:
        ids = [job["job_id"] for job in jobs]
        if cancel_on_interrupt:
            for job_id in ids:
                api.cancel(job_id)
            stderr.print(f"Interrupted: canceled {len(ids)} job(s).")
        else:
            stderr.print("Detached; the jobs keep running. Reattach with:")
            resume = f"--output {shlex.quote(str(output))}" if output else "--watch"
            for job_id in ids:
                stderr.print(f"  yds jobs show {job_id} {resume}", markup=False)
        if as_json:
            emit({"interrupted": True, "canceled": cancel_on_interrupt, "job_ids": ids}, True,
                 lambda: None)  # fmt: skip
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def _entries(api: ApiClient, job: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The job itself, or a playlist's, channel's or batch's jobs (all levels)."""
    if job.get("kind", "video") == "video":
        yield job
        return
    for entry in api.jobs(parent_id=job["job_id"]):
        yield from _entries(api, entry)


def _save_all(api: ApiClient, finals: list[dict[str, Any]], directory: Path) -> list[SavedFile]:
    saved: list[SavedFile] = []
    for final in finals:
        for job in _entries(api, final):
            for stored in job["files"] if job["status"] == "completed" else []:
                fallback = f"{job['metadata'].get('video_id') or job['job_id']}.{stored['format']}"
                saved.append(api.save_file(stored, directory, fallback))
    return saved


def _saved(item: SavedFile) -> dict[str, Any]:
    return {"path": str(item.path), "size": item.size, "sha256": item.sha256}


def _print_queued(jobs: list[dict[str, Any]]) -> None:
    for job in jobs:
        stdout.print(f"queued  {job['job_id']}  {job['kind']:8}  {job['url']}", markup=False)


def _print_finished(finals: list[dict[str, Any]], saved: list[SavedFile]) -> None:
    for job in finals:
        line = f"{job['status']:9}  {job['job_id']}  {progress.label(job)}"
        if job.get("error"):
            line += escape(f"  ({job['error']['code']}: {job['error']['message']})")
        if progress.waiting_text(job):
            line += escape(f"  [{progress.waiting_text(job)}]")
        stdout.print(line)
        children = job.get("children")
        if children:
            stdout.print(
                f"           {children['completed']} completed, {children['failed']} failed, "
                f"{children['canceled']} canceled, {children['skipped']} skipped"
            )
        if not saved:
            for stored in job["files"]:
                stdout.print(f"           {stored['kind']:9} {stored['url']}", markup=False)
    for item in saved:
        stdout.print(f"saved  {item.path}  ({size(item.size)})", markup=False)


def _watch_file(
    api: ApiClient, path: Path, body: dict[str, Any], *, from_start: bool, as_json: bool
) -> None:
    """Submit each line appended to `path` (tail -f), until Ctrl-C; with --json, one line of
    JSON per submission."""
    offset = 0 if from_start else _end_of_last_line(path)
    pending = ""
    stderr.print(f"Watching {path} for new URLs (Ctrl-C to stop)…", markup=False)
    submitted = 0
    try:
        while True:
            offset, chunk = _read_from(path, offset)
            lines = (pending + chunk).split("\n")
            pending = lines.pop()  # an unfinished last line waits for its newline
            for url in filter(None, map(_url_of, lines)):
                job = _submit_one(api, url, body, as_json)
                if job is not None:
                    # Counted before it is shown: a Ctrl-C right after the line still counts it.
                    submitted += 1
                    _show_submitted(job, as_json)
            time.sleep(WATCH_INTERVAL_SECONDS)
    except KeyboardInterrupt:
        stderr.print(f"Stopped watching; {submitted} job(s) submitted.")


def _end_of_last_line(path: Path) -> int:
    """Where the lines already in the file end. A last line without its newline is still
    being written: it is read (and submitted once complete) with what is appended."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    return data.rfind(b"\n") + 1


def _read_from(path: Path, offset: int) -> tuple[int, str]:
    try:
        with path.open("rb") as handle:
            if handle.seek(0, 2) < offset:
                offset = 0  # truncated or replaced: read it from the start
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return 0, ""
    return offset + len(data), data.decode("utf-8", errors="replace")


def _submit_one(
    api: ApiClient, url: str, body: dict[str, Any], as_json: bool
) -> dict[str, Any] | None:
    """The queued job, or None when the URL was refused (the error is shown)."""
    try:
        job: dict[str, Any] = api.submit({"url": url, **body})
    except ClientError as error:
        if error.exit_code is not ExitCode.USAGE:
            raise
        if as_json:
            typer.echo(json.dumps({"url": url, **error.as_json()}))
        else:
            stderr.print(f"[red]error:[/red] {escape(url)}: {escape(error.message)}")
        return None
    return job


def _show_submitted(job: dict[str, Any], as_json: bool) -> None:
    # One JSON object a line: a script can read each submission as it happens.
    if as_json:
        typer.echo(json.dumps(job))
    else:
        _print_queued([job])


def show_version(api_url: str, api_key: str | None, *, as_json: bool) -> None:
    """`yds --version`: this client's version, then the service's and its yt-dlp's, which
    only the service can tell (GET /api/v1/version)."""
    client = _installed_version()
    try:
        with ApiClient(api_url, api_key) as api:
            server = api.version()
    except ClientError as error:
        emit({"client": client, "server": None, "yt_dlp": None, **error.as_json()}, as_json,
             lambda: stdout.print(f"yds (client)  {client}", markup=False))  # fmt: skip
        if not as_json:
            stderr.print(f"[red]error:[/red] server version unknown: {escape(error.message)} "
                         f"[dim]({escape(error.code)})[/dim]")  # fmt: skip
        raise typer.Exit(int(error.exit_code)) from None
    workers: dict[str, str] = server.get("yt_dlp_workers") or {}
    found = {"client": client, "server": server["service"], "yt_dlp": server["yt_dlp"],
             "yt_dlp_workers": workers, "api_url": api_url}  # fmt: skip

    def human() -> None:
        stdout.print(f"yds (client)  {client}", markup=False)
        stdout.print(f"server        {server['service']}  ({api_url})", markup=False)
        stdout.print(f"yt-dlp        {server['yt_dlp']}  (on the server)", markup=False)
        # Workers update yt-dlp on their own (YTDLP_UPDATE): one line per version they run.
        for version, count in sorted(Counter(workers.values()).items()):
            noun = "worker" if count == 1 else "workers"
            stdout.print(f"yt-dlp        {version}  (on {count} {noun})", markup=False)

    emit(found, as_json, human)


def _installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def info(url: str, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None,
         as_json: Json = False) -> None:  # fmt: skip
    """A video's metadata and caption languages, without downloading."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.info(url)
    emit(found, as_json, lambda: _print_info(found))


def _print_info(found: dict[str, Any]) -> None:
    stdout.print(f"[bold]{escape(str(found.get('title')))}[/bold]")
    stdout.print(f"channel   {found.get('channel_name') or '-'}", markup=False)
    stdout.print(f"duration  {seconds(found.get('duration'))}")
    if found.get("is_playlist"):
        stdout.print(
            f"entries   {found.get('entry_count') if found.get('entry_count') is not None else '-'}"
        )
    else:
        stdout.print(f"uploaded  {found.get('upload_date') or '-'}")
    for name in ("manual_captions", "automatic_captions", "translations"):
        values = found.get(name) or []
        if values:
            stdout.print(f"{name.replace('_', ' ')}: {', '.join(map(str, values))}", markup=False)


def formats(url: str, api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None,
            as_json: Json = False) -> None:  # fmt: skip
    """Every format of a video and what each quality preset picks."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.formats(url)
    emit(found, as_json, lambda: _print_formats(found))


def _print_formats(found: dict[str, Any]) -> None:
    table = Table("id", "ext", "resolution", "fps", "vcodec", "acodec", "size")
    for fmt in found.get("formats", []):
        table.add_row(
            str(fmt.get("format_id")), str(fmt.get("ext")), str(fmt.get("resolution") or "-"),
            str(fmt.get("fps") or "-"), str(fmt.get("vcodec") or "-"),
            str(fmt.get("acodec") or "-"), size(fmt.get("filesize") or fmt.get("filesize_approx")),
        )  # fmt: skip
    stdout.print(table)


def transcript(
    job_id: JobArg,
    lang: Annotated[str | None, typer.Option(help="Language; the job's first by default.")] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="txt (paragraphs), srt, vtt, json (cues with word timings), md (Markdown "
            "with timestamp links) or chunks (pieces for a language model, with deep links).",
        ),
    ] = "txt",
    max_seconds: Annotated[
        float | None, typer.Option(help="chunks: longest chunk in seconds (default 60).")
    ] = None,
    max_words: Annotated[int | None, typer.Option(help="chunks: most words in a chunk.")] = None,
    drop_sound_labels: Annotated[
        bool, typer.Option(help="Leave [Music] and the like out of txt, md and chunks.")
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Print a job's transcript."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        content = api.transcript(
            job_id,
            lang=lang,
            fmt=fmt,
            max_seconds=max_seconds,
            max_words=max_words,
            drop_sound_labels=drop_sound_labels,
        )
    data = {"job_id": job_id, "language": lang, "format": fmt, "content": content}
    emit(data, as_json, lambda: typer.echo(_readable(content)))


def _readable(content: Any) -> str:
    if isinstance(content, str):
        return content
    return json.dumps(content, indent=2, ensure_ascii=False)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="queued, processing, completed …")] = None,
    parent: Annotated[str | None, typer.Option(help="A playlist's entries.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most N jobs.")] = 20,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Your jobs, newest first."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = list(api.jobs(status=status, parent_id=parent, limit=limit))
    emit(found, as_json, lambda: _print_jobs(found))


def _print_jobs(found: list[dict[str, Any]]) -> None:
    table = Table("job", "kind", "status", "progress", "title or URL", "created")
    for job in found:
        waiting = progress.waiting_text(job)
        status = f"{job['status']} ({waiting})" if waiting else job["status"]
        table.add_row(
            job["job_id"], job["kind"], status, f"{job['progress']:.0f}%",
            progress.label(job), job["created_at"][:19].replace("T", " "),
        )  # fmt: skip
    stdout.print(table)


@jobs_app.command("show")
def jobs_show(
    job_id: JobArg,
    watch: Annotated[bool, typer.Option("--watch", help="Follow it live until it ends.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(help="Save its files into DIR once it ends (implies --watch)."),
    ] = None,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """One job; with --watch, its live progress first (Ctrl-C detaches); with --output, then
    its files: how a detached `download --output` is resumed."""
    watch = watch or output is not None
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        job = api.job(job_id)
        if watch and job["status"] not in progress.TERMINAL:
            job = _follow(api, [job], False, as_json, output)[0]
        saved = _save_all(api, [job], output) if output else []
    if output is None:
        emit(job, as_json, lambda: _print_finished([job], []))
    else:
        report = {"jobs": [job], "rejected": [], "saved": [_saved(s) for s in saved]}
        emit(report, as_json, lambda: _print_finished([job], saved))
    if watch and job["status"] in FAILED:
        raise typer.Exit(int(ExitCode.JOB_FAILED))


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: JobArg,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Cancel a queued or running job (a playlist with its entries)."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        current = api.job(job_id)
        job_id = current["job_id"]  # resolved once, if it was a prefix
        if current["status"] in progress.TERMINAL:
            # DELETE would delete a finished job; cancel never does.
            fail(ClientError("job_not_cancelable", "The job has already ended.",
                             ExitCode.USAGE), as_json)  # fmt: skip
        job = api.cancel(job_id) or {}
    emit(
        job,
        as_json,
        lambda: stdout.print(
            f"{'canceled' if job.get('status') == 'canceled' else 'cancel requested'}  {job_id}"
        ),
    )


@jobs_app.command("pause")
def jobs_pause(
    job_id: JobArg,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Pause a queued or running job (a playlist: its unfinished entries), keeping what it
    downloaded so far."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        job = api.pause(job_id)
    state = "paused" if job["status"] == "paused" else "pause requested"
    emit(job, as_json, lambda: stdout.print(f"{state}  {job['job_id']}  {progress.label(job)}"))


@jobs_app.command("resume")
def jobs_resume(
    job_id: JobArg,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Resume a paused job where it stopped (a playlist: its paused entries)."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        job = api.resume(job_id)
    emit(job, as_json, lambda: stdout.print(f"resumed  {job['job_id']}  {progress.label(job)}"))


@jobs_app.command("retry")
def jobs_retry(
    job_id: Annotated[str | None, typer.Argument(metavar="[JOB]")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="Every failed job.")] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Run a failed or canceled job again (a playlist: its failed entries), or all failed
    (as `yds recovery retry --all --status failed` does)."""
    if (job_id is None) == (not all_failed):
        usage_error("Give a JOB or --all-failed (not both).", as_json)
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        if job_id is None:
            outcome = api.retry_failures({"status": ["failed"]})
            emit(outcome, as_json, lambda: print_retry_outcome(outcome))
            return
        job = api.retry(job_id)
    emit(job, as_json, lambda: stdout.print(f"retrying  {job['job_id']}  {progress.label(job)}"))


@library_app.command("search")
def library_search(
    query: str,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Find your completed jobs by title, channel or a word of their transcript."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.search(query, limit=limit)
    emit(found, as_json, lambda: _print_hits(found))


def _print_hits(found: dict[str, Any]) -> None:
    stdout.print(f"{found['total']} match(es)")
    for hit in found["items"]:
        stdout.print(f"[bold]{escape(hit['title'])}[/bold]  {hit['job_id']}  {escape(hit['url'])}")
        for match in hit["matches"]:
            text = " ".join(match["text"].split())
            stdout.print(f"  {seconds(match['start'])}  {text}", markup=False)


def stats(
    timeseries: Annotated[
        bool, typer.Option("--timeseries", help="Jobs over time, a row per UTC bucket.")
    ] = False,
    bucket: Annotated[
        str, typer.Option(help="With --timeseries: day or hour (UTC).", show_choices=True)
    ] = "day",
    start: Annotated[
        str | None,
        typer.Option("--from", help="With --timeseries: ISO 8601 start (default 30 days ago)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="With --timeseries: ISO 8601 end (default now).")
    ] = None,
    all_keys: Annotated[
        bool, typer.Option("--all-keys", help="With --timeseries: every key's jobs (admin).")
    ] = False,
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Your jobs by status, and what they store; with --timeseries, jobs over time."""
    if not timeseries and (start or end or all_keys or bucket != "day"):
        usage_error("--bucket, --from, --to and --all-keys go with --timeseries.", as_json)
    if timeseries:
        with expected_errors(as_json), ApiClient(api_url, api_key) as api:
            series = api.timeseries(bucket=bucket, start=start, end=end, all_keys=all_keys)
        emit(series, as_json, lambda: _print_timeseries(series))
        return
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.stats()

    def human() -> None:
        for status, count in found["jobs_by_status"].items():
            stdout.print(f"{status:11} {count}")
        stdout.print(f"files       {found['files_stored']} ({size(found['bytes_stored'])})")
        stdout.print(f"library     {found['library_entries']} searchable")

    emit(found, as_json, human)


def _print_timeseries(series: dict[str, Any]) -> None:
    width = 10 if series["bucket"] == "day" else 16
    figures = ("created", "completed", "failed", "stored", "median speed", "median time")
    table = Table(
        f"{series['bucket']} (UTC)", *(Column(name, justify="right") for name in figures),
        "failures",
    )  # fmt: skip
    for row in [*series["buckets"], {**series["totals"], "start": "total"}]:
        speed = row["median_speed"]
        table.add_row(
            row["start"][:width].replace("T", " "), str(row["created"]), str(row["completed"]),
            str(row["failed"]), size(row["bytes_stored"]),
            f"{size(speed)}/s" if speed else "-", seconds(row["median_duration"]),
            ", ".join(f"{code} {n}" for code, n in row["failed_by_code"].items()),
        )  # fmt: skip
    stdout.print(table)


@cookies_app.command("upload")
def cookies_upload(
    path: Annotated[Path, typer.Argument(help="A Netscape cookie file (cookies.txt).")],
    api_url: ApiUrl = DEFAULT_API_URL,
    api_key: ApiKey = None,
    as_json: Json = False,
) -> None:
    """Upload a cookie file; downloads send it from now on, instead of YTDLP_COOKIES_FILE."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        usage_error(f"Cannot read {path}: {exc.strerror}.", as_json)
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.upload_cookies(text)
    emit(found, as_json, lambda: _print_cookies(found, heading="Cookies uploaded."))


@cookies_app.command("show")
def cookies_show(api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None,
                 as_json: Json = False) -> None:  # fmt: skip
    """Where the cookies come from, how many sign in, and when they expire."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        found = api.cookie_status()
    emit(found, as_json, lambda: _print_cookies(found))


@cookies_app.command("remove")
def cookies_remove(api_url: ApiUrl = DEFAULT_API_URL, api_key: ApiKey = None,
                   as_json: Json = False) -> None:  # fmt: skip
    """Forget the uploaded cookies (YTDLP_COOKIES_FILE applies again, if set)."""
    with expected_errors(as_json), ApiClient(api_url, api_key) as api:
        api.remove_cookies()
        found = api.cookie_status()
    emit(found, as_json, lambda: _print_cookies(found, heading="Uploaded cookies removed."))


_COOKIE_SOURCES = {
    "upload": "uploaded",
    "file": "YTDLP_COOKIES_FILE",
    "none": "none (downloads go without cookies)",
}


def _print_cookies(found: dict[str, Any], heading: str | None = None) -> None:
    if heading:
        stdout.print(heading)
    stdout.print(f"source        {_COOKIE_SOURCES.get(found['source'], found['source'])}")
    if found.get("uploaded_at"):
        stdout.print(f"uploaded at   {found['uploaded_at']}")
    if found["error"]:
        stdout.print(f"[red]problem[/red]       {escape(found['error'])}")
    if not found["parseable"]:
        return
    stdout.print(f"cookies       {found['count']} ({found['auth_cookies']} sign-in)")
    expiry = found["expires_at"] or "- (no sign-in cookie with an expiry)"
    if found["expired"]:
        expiry = f"[red]{expiry} (expired)[/red]"
    elif found["expiring_soon"]:
        expiry = f"[yellow]{expiry} (within 7 days)[/yellow]"
    stdout.print(f"expires       {expiry}")
