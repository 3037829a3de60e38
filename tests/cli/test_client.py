"""The command-line client as a user runs it: a separate process against a running service
on loopback (real API, worker, yt-dlp and the offline YouTube fixtures)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.service import KeyLimits
from app.core.database import create_sync_engine, sync_sessionmaker
from app.jobs.models import JobStatus
from tests.support.factories import create_job, create_key
from tests.support.faults import throttled_copy, wait_for
from tests.support.jobs import submit, watch
from tests.support.offline_youtube import (
    PLAYLIST_VIDEO_IDS,
    PRIVATE_VIDEO_ID,
    STANDARD_VIDEO_ID,
    UNIQUE_TRANSCRIPT_WORD,
    UNIQUE_WORD_VIDEO_ID,
    OfflineYouTube,
)
from tests.support.services import require_tool
from tests.support.stack import Stack, StartStack, start_worker

pytestmark = pytest.mark.e2e
SMALL = ["--quality", "360p"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_stack(start_stack: StartStack) -> Stack:
    return start_stack("cli", redis_db=3)


@pytest.fixture
def key(cli_stack: Stack) -> str:
    """A key per test: what one test lists or retries is its own."""
    return cli_stack.key("cli")


def yds_env(stack: Stack, key: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YDS_")}
    env.update(YDS_API_URL=stack.base_url, COLUMNS="120")
    if key is not None:
        env["YDS_API_KEY"] = key
    return {**env, **extra}


def yds(
    stack: Stack, key: str | None, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m app.cli ARGS` as a user would, with the connection in the environment."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=yds_env(stack, key, **extra),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_wait_output_saves_every_file_with_its_sha256(
    cli_stack: Stack, key: str, tmp_path: Path
) -> None:
    url = cli_stack.youtube.video_url(STANDARD_VIDEO_ID)
    result = yds(cli_stack, key, "download", url, *SMALL, "--output", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    report = as_json(result)
    (job,) = report["jobs"]
    assert job["status"] == "completed" and report["rejected"] == []
    saved = {Path(item["path"]).name: item for item in report["saved"]}
    assert {f["sha256"] for f in job["files"]} == {item["sha256"] for item in saved.values()}
    for item in saved.values():
        path = Path(item["path"])
        assert path.parent == tmp_path and sha256(path) == item["sha256"]
    assert any(name.endswith(".mp4") for name in saved)
    assert not list(tmp_path.glob(".*.part")), "no partial file is left"


def test_the_progress_display_renders_bars_for_a_playlist_and_its_entries(
    cli_stack: Stack, key: str, tmp_path: Path
) -> None:
    url = cli_stack.youtube.playlist_url()
    result = yds(
        cli_stack, key, "download", url, "--playlist-items", "1-3", *SMALL,
        "--output", str(tmp_path),
        TTY_COMPATIBLE="1", TTY_INTERACTIVE="1", FORCE_COLOR="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    screen = result.stderr
    assert "━" in screen and "100%" in screen, screen[-2000:]
    assert "[playlist]" in screen, "the overall bar is labelled with its kind"
    assert "↳" in screen, "entries get bars of their own while they run"
    assert "3/3 done, 0 failed" in screen
    assert "saved" in result.stdout
    assert len(list(tmp_path.glob("*.mp4"))) == 3


def test_progress_bars_in_a_real_terminal(cli_stack: Stack, key: str, tmp_path: Path) -> None:
    """Under tmux the client sees a real terminal: the bar is redrawn in place."""
    # Its own tmux server: nothing else's sessions or environment get mixed in.
    found = require_tool(shutil.which("tmux"), "tmux is not installed (`make test` installs it)")
    tmux = [found, "-L", f"yds-test-{os.getpid()}"]
    # 3.6 MB at 500 kB/s: several seconds of bar, even on a loaded machine.
    throttled_copy(cli_stack.youtube, "cliTermVid1", 500_000)
    session = "yds"
    env = yds_env(cli_stack, key)
    command = (
        f"cd {REPO} && YDS_API_URL={env['YDS_API_URL']} YDS_API_KEY={key} "
        f"{sys.executable} -m app.cli download --wait {cli_stack.youtube.video_url('cliTermVid1')} "
        f"--quality 360p; echo EXIT=$?; sleep 30"
    )
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "150", "-y", "20", command],
                   check=True)  # fmt: skip
    try:
        seen_running, pane = "", ""
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            pane = subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                                  capture_output=True, text=True).stdout  # fmt: skip
            if "downloading" in pane and "%" in pane:
                seen_running = pane
            if "EXIT=" in pane:
                break
            time.sleep(0.1)
        assert seen_running, f"a live bar is drawn while downloading; the screen was:\n{pane}"
        assert "EXIT=0" in pane and "completed" in pane, pane
        assert pane.count("━") >= 20, pane
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


# About forty `yds` processes, each starting Python: on a loaded two-core machine that alone
# can pass the suite's 300 s.
@pytest.mark.timeout(900)
def test_every_command_speaks_json(cli_stack: Stack, key: str, tmp_path: Path) -> None:
    youtube = cli_stack.youtube
    done = as_json(yds(cli_stack, key, "download", youtube.video_url(UNIQUE_WORD_VIDEO_ID),
                       "--transcript-only", "--wait", "--json"))["jobs"][0]  # fmt: skip
    assert done["status"] == "completed"
    job_id = done["job_id"]
    failed = as_json(yds(cli_stack, key, "download", youtube.video_url(PRIVATE_VIDEO_ID),
                         "--wait", "--json"))["jobs"][0]  # fmt: skip
    # Slow enough to be still running at the cancel below, however loaded the machine:
    # 2 KB/s a connection, four at once.
    slow = throttled_copy(youtube, "cliJsonSlow", 2_000)
    queued = as_json(yds(cli_stack, key, "download", slow, *SMALL, "--json"))["jobs"][0]
    assert queued["status"] == "queued"

    video = youtube.video_url(STANDARD_VIDEO_ID)
    assert as_json(yds(cli_stack, key, "info", video, "--json"))["title"]
    assert as_json(yds(cli_stack, key, "formats", video, "--json"))["formats"]
    text = as_json(yds(cli_stack, key, "transcript", job_id, "--json"))
    assert UNIQUE_TRANSCRIPT_WORD in text["content"]
    cues = as_json(yds(cli_stack, key, "transcript", job_id, "--format", "json", "--json"))
    assert cues["content"][0]["start"] >= 0
    chunks = as_json(yds(cli_stack, key, "transcript", job_id, "--format", "chunks",
                         "--max-words", "10", "--json"))["content"]  # fmt: skip
    assert len(chunks) > 1 and all(len(chunk["text"].split()) <= 10 for chunk in chunks)
    assert chunks[0]["url"].startswith(f"https://youtu.be/{UNIQUE_WORD_VIDEO_ID}?t=")
    markdown = yds(cli_stack, key, "transcript", job_id, "--format", "md")
    assert (
        markdown.returncode == 0
        and f"(https://youtu.be/{UNIQUE_WORD_VIDEO_ID}?t=" in markdown.stdout
    )
    listed = as_json(yds(cli_stack, key, "jobs", "list", "--json"))
    assert {job_id, failed["job_id"]} <= {j["job_id"] for j in listed}
    only_failed = as_json(yds(cli_stack, key, "jobs", "list", "--status", "failed", "--json"))
    assert [j["job_id"] for j in only_failed] == [failed["job_id"]]
    assert as_json(yds(cli_stack, key, "jobs", "show", job_id, "--json"))["job_id"] == job_id
    retried = as_json(yds(cli_stack, key, "jobs", "retry", "--all-failed", "--json"))
    assert retried["retried_ids"] == [failed["job_id"]] and retried["not_retried"] == 0
    retried_one = yds(cli_stack, key, "jobs", "retry", job_id, "--json")
    assert retried_one.returncode == 2
    assert as_json(retried_one)["error"]["code"] == "job_not_retryable"
    canceled = as_json(yds(cli_stack, key, "jobs", "cancel", queued["job_id"], "--json"))
    assert canceled["job_id"] == queued["job_id"]
    assert canceled["status"] == "canceled" or canceled["cancel_requested"]
    ended = yds(cli_stack, key, "jobs", "cancel", job_id, "--json")
    assert ended.returncode == 2 and as_json(ended)["error"]["code"] == "job_not_cancelable"
    hits = as_json(yds(cli_stack, key, "library", "search", UNIQUE_TRANSCRIPT_WORD, "--json"))
    assert [hit["job_id"] for hit in hits["items"]] == [job_id]
    assert as_json(yds(cli_stack, key, "stats", "--json"))["jobs_by_status"]["completed"] >= 1

    admin = create_key(cli_stack.database_url, "cli-admin", scopes=["admin"]).secret
    created = as_json(yds(cli_stack, admin, "api-keys", "create", "--name", "made", "--json"))
    assert created["key"].startswith("yds_") and created["name"] == "made"
    keys = as_json(yds(cli_stack, admin, "api-keys", "list", "--json"))
    assert created["id"] in {k["id"] for k in keys}
    revoked = as_json(yds(cli_stack, admin, "api-keys", "revoke", created["id"], "--json"))
    assert revoked == {"revoked": created["id"]}
    assert as_json(yds(cli_stack, None, "api-keys", "generate", "--json"))["key"]


def test_a_batch_file_with_comments_and_a_bad_line(
    cli_stack: Stack, key: str, tmp_path: Path
) -> None:
    youtube = cli_stack.youtube
    batch = tmp_path / "urls.txt"
    batch.write_text(
        "# my list\n\n"
        f"{youtube.video_url(PLAYLIST_VIDEO_IDS[0])}  # first\n"
        "https://vimeo.com/123\n"
        f"   {youtube.video_url(PLAYLIST_VIDEO_IDS[1])}\n",
        encoding="utf-8",
    )
    result = yds(cli_stack, key, "download", "--batch", str(batch), "--transcript-only",
                 "--wait", "--json")  # fmt: skip
    assert result.returncode == 2, "a rejected line is a usage error"
    report = as_json(result)
    assert [j["metadata"]["video_id"] for j in report["jobs"]] == list(PLAYLIST_VIDEO_IDS[:2])
    assert all(j["status"] == "completed" for j in report["jobs"])
    assert [(r["url"], r["error"]["code"]) for r in report["rejected"]] == [
        ("https://vimeo.com/123", "unsupported_url")
    ]


def test_watch_mode_submits_each_line_appended_to_the_file(
    cli_stack: Stack, key: str, tmp_path: Path
) -> None:
    """Only whole lines are submitted: a line still being written when the watcher starts,
    or appended in two writes, is submitted once, complete. A submitted fragment would show
    up as an error line on stdout before the URL expected next."""
    youtube = cli_stack.youtube
    old, starting, appended = (youtube.video_url(v) for v in PLAYLIST_VIDEO_IDS[1:4])
    queue = tmp_path / "queue.txt"
    queue.write_text(f"{old}\n{starting[:20]}", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "download", "--watch", str(queue),
         "--transcript-only", "--json"],
        cwd=REPO, env=yds_env(cli_stack, key), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None and process.stdout is not None
        # Started: it has taken note of what was already there.
        while not (started := process.stderr.readline()).startswith("Watching "):
            assert started, "the watcher printed no start line"
        with queue.open("a", encoding="utf-8") as handle:
            # The first line's end, the next line's start: both in one write.
            handle.write(f"{starting[20:]}\n# appended later\n{appended[:20]}")
        assert json.loads(process.stdout.readline())["url"] == starting
        # The watcher has read the file up to the half of `appended` (one write): finish it.
        with queue.open("a", encoding="utf-8") as handle:
            handle.write(appended[20:] + "\n")
        submitted = json.loads(process.stdout.readline())
        assert submitted["url"] == appended and submitted["status"] == "queued"
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "2 job(s) submitted" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["download"], 2, "usage_error"),
        (["download", "https://vimeo.com/1"], 2, "unsupported_url"),
        (
            ["download", "https://youtu.be/aqz-KE-bpKQ", "--priority", "urgent"],
            2,
            "validation_error",
        ),
        (["jobs", "show", "not-a-uuid"], 2, "bad_job_id"),
        (["jobs", "show", "00000000-0000-0000-0000-000000000000"], 2, "job_not_found"),
        (["jobs", "retry"], 2, "usage_error"),
        (["library", "search", "!!!"], 2, "empty_search_query"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(
    cli_stack: Stack, key: str, args: list[str], code: int, error: str
) -> None:
    human = yds(cli_stack, key, *args)
    assert human.returncode == code
    assert human.stderr.strip().count("\n") == 0 and "Traceback" not in human.stderr
    assert human.stderr.startswith("error:")
    machine = yds(cli_stack, key, *args, "--json")
    body = as_json(machine)
    if "rejected" in body:  # download reports each URL
        body = body["rejected"][0]
    assert machine.returncode == code and body["error"]["code"] == error


def test_exit_codes_for_a_failed_job_bad_keys_and_no_server(cli_stack: Stack, key: str) -> None:
    private = cli_stack.youtube.video_url(PRIVATE_VIDEO_ID)
    failed = yds(cli_stack, key, "download", private, "--wait")
    assert failed.returncode == 1 and "video_private" in failed.stdout

    for bad in ("yds_not-a-real-key-000000000000000000", ""):
        result = yds(cli_stack, bad or None, "jobs", "list")
        assert result.returncode == 3, result.stderr
        assert result.stderr.startswith("error:") and "Traceback" not in result.stderr

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gone = yds(cli_stack, key, "stats", "--json", YDS_API_URL=f"http://127.0.0.1:{port}")
    assert gone.returncode == 4 and as_json(gone)["error"]["code"] == "server_unreachable"
    ok = yds(cli_stack, key, "stats")
    assert ok.returncode == 0 and "completed" in ok.stdout
    before_the_command = yds(cli_stack, None, "--api-key", key, "--json", "stats")
    assert before_the_command.returncode == 0 and as_json(before_the_command)["total_jobs"] >= 1


@pytest.mark.parametrize("cancel", [False, True])
def test_ctrl_c_during_wait_detaches_or_cancels(cli_stack: Stack, key: str, cancel: bool) -> None:
    video = f"cliCtrlC{int(cancel):03d}"
    url = throttled_copy(cli_stack.youtube, video, 100_000)
    args = ["download", url, "--wait", "--quality", "360p"]
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", *args, *(["--cancel-on-interrupt"] if cancel else [])],
        cwd=REPO, env=yds_env(cli_stack, key, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    job = _wait_for_processing(cli_stack, key, video)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err
    state = _job(cli_stack, key, job["job_id"])
    if cancel:
        assert "canceled 1 job" in err
        deadline = time.monotonic() + 30
        while state["status"] != "canceled" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = _job(cli_stack, key, job["job_id"])
        assert state["status"] == "canceled"
    else:
        assert f"yds jobs show {job['job_id']} --watch" in err
        assert state["status"] == "processing", "detaching does not cancel"
        httpx.delete(f"{cli_stack.base_url}/api/v1/downloads/{job['job_id']}",
                     headers={"X-API-Key": key})  # fmt: skip


def _job(stack: Stack, key: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.base_url}/api/v1/downloads/{job_id}",
                         headers={"X-API-Key": key})  # fmt: skip
    body: dict[str, Any] = response.json()
    return body


def _wait_for_processing(stack: Stack, key: str, video_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = httpx.get(f"{stack.base_url}/api/v1/downloads", headers={"X-API-Key": key},
                           params={"status": "processing"}).json()["items"]  # fmt: skip
        for job in listed:
            if video_id in job["url"] and job["progress"] > 5:
                return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"no job of {video_id} started downloading")


def test_the_yds_command_is_installed_next_to_python(cli_stack: Stack, key: str) -> None:
    """`make` installs the project editable, which puts `yds` into the virtualenv."""
    command = Path(sys.executable).parent / "yds"
    assert command.is_file(), "run `make test` or `make run` (they install the yds command)"
    result = subprocess.run(
        [str(command), "stats", "--json"],
        env=yds_env(cli_stack, key),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_jobs"] == 0


def test_info_shows_the_channel(cli_stack: Stack, key: str) -> None:
    video = cli_stack.youtube.video_url(STANDARD_VIDEO_ID)
    channel = as_json(yds(cli_stack, key, "info", video, "--json"))["channel_name"]
    assert channel
    human = yds(cli_stack, key, "info", video)
    assert human.returncode == 0, human.stderr
    assert f"channel   {channel}\n" in human.stdout


def test_a_rate_limited_command_exits_5_and_says_when_to_retry(cli_stack: Stack) -> None:
    limits = KeyLimits(rate_limit_per_minute=1)
    limited = create_key(cli_stack.database_url, "cli-limited", limits=limits).secret
    assert yds(cli_stack, limited, "stats").returncode == 0
    human = yds(cli_stack, limited, "stats")
    assert human.returncode == 5, human.stderr
    assert human.stderr.startswith("error:") and "(rate_limited)" in human.stderr
    assert re.search(r"retry in \d+ s", human.stderr), human.stderr
    machine = yds(cli_stack, limited, "stats", "--json")
    error = as_json(machine)["error"]
    assert machine.returncode == 5 and error["code"] == "rate_limited"
    assert 1 <= error["retry_after"] <= 60


def test_version_shows_the_client_the_server_and_its_yt_dlp(cli_stack: Stack, key: str) -> None:
    service, yt_dlp = metadata.version("youtube-download-service"), metadata.version("yt-dlp")
    human = yds(cli_stack, key, "--version")
    assert human.returncode == 0, human.stderr
    assert human.stdout.splitlines() == [
        f"yds (client)  {service}",
        f"server        {service}  ({cli_stack.base_url})",
        f"yt-dlp        {yt_dlp}  (on the server)",
        f"yt-dlp        {yt_dlp}  (on 1 worker)",
    ]
    machine = as_json(yds(cli_stack, key, "--json", "--version"))
    worker = f"{socket.gethostname()}:{cli_stack.workers[0].pid}"
    assert machine == {
        "client": service, "server": service, "yt_dlp": yt_dlp,
        "yt_dlp_workers": {worker: yt_dlp}, "api_url": cli_stack.base_url,
    }  # fmt: skip
    without_key = yds(cli_stack, None, "--version")
    assert without_key.returncode == 3 and without_key.stdout == f"yds (client)  {service}\n"
    assert "server version unknown" in without_key.stderr
    anonymous = httpx.get(f"{cli_stack.base_url}/api/v1/version")
    assert anonymous.status_code == 401, "only key holders learn what the server runs"


def test_job_ids_are_accepted_by_a_unique_prefix(cli_stack: Stack) -> None:
    issued = create_key(cli_stack.database_url, "cli-prefix")
    engine = create_sync_engine(cli_stack.database_url)
    try:
        sessions = sync_sessionmaker(engine)
        ids = [
            create_job(
                sessions,
                api_key_id=issued.api_key.id,
                id=uuid.UUID(value),
                status=JobStatus.CANCELED,
            )
            for value in (
                "abcdef01-0000-4000-8000-000000000001",
                "abcdef02-0000-4000-8000-000000000002",
            )
        ]
    finally:
        engine.dispose()
    key = issued.secret
    shown = as_json(yds(cli_stack, key, "jobs", "show", "abcdef02", "--json"))
    assert shown["job_id"] == str(ids[1])
    human = yds(cli_stack, key, "jobs", "show", "ABCDEF01")
    assert human.returncode == 0 and str(ids[0]) in human.stdout, human.stderr

    ambiguous = yds(cli_stack, key, "jobs", "show", "abcdef")
    assert ambiguous.returncode == 6 and "(ambiguous_job_id)" in ambiguous.stderr
    assert str(ids[0]) in ambiguous.stderr and str(ids[1]) in ambiguous.stderr
    machine = yds(cli_stack, key, "jobs", "retry", "abcdef", "--json")
    assert machine.returncode == 6 and as_json(machine)["error"]["code"] == "ambiguous_job_id"
    short = yds(cli_stack, key, "jobs", "show", "abcde", "--json")
    assert short.returncode == 2
    assert as_json(short)["error"]["code"] == "job_id_prefix_too_short"
    unknown = yds(cli_stack, key, "jobs", "show", "123456", "--json")
    assert unknown.returncode == 2 and as_json(unknown)["error"]["code"] == "job_not_found"


def test_stats_timeseries_prints_a_row_per_bucket(cli_stack: Stack) -> None:
    issued = create_key(cli_stack.database_url, "cli-trends")
    noon = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    engine = create_sync_engine(cli_stack.database_url)
    try:
        sessions = sync_sessionmaker(engine)
        for hour, status, code in [
            (0, JobStatus.COMPLETED, None),
            (2, JobStatus.FAILED, "video_private"),
            (2, JobStatus.FAILED, "video_private"),
        ]:
            create_job(
                sessions, api_key_id=issued.api_key.id, status=status, error_code=code,
                created_at=noon + dt.timedelta(hours=hour),
                started_at=noon + dt.timedelta(hours=hour),
                completed_at=noon + dt.timedelta(hours=hour, seconds=90),
                downloaded_bytes=9000,
            )  # fmt: skip
    finally:
        engine.dispose()
    key = issued.secret
    window = ["--from", "2026-03-10T12:00:00Z", "--to", "2026-03-10T14:59:00Z"]

    machine = as_json(yds(cli_stack, key, "stats", "--timeseries", "--bucket", "hour",
                          *window, "--json"))  # fmt: skip
    assert [b["start"] for b in machine["buckets"]] == [
        f"2026-03-10T{h}:00:00Z" for h in (12, 13, 14)
    ]
    assert [(b["created"], b["completed"], b["failed"]) for b in machine["buckets"]] == [
        (1, 1, 0), (0, 0, 0), (2, 0, 2),
    ]  # fmt: skip
    assert machine["buckets"][0]["median_speed"] == 100.0
    human = yds(cli_stack, key, "stats", "--timeseries", "--bucket", "hour", *window)
    assert human.returncode == 0, human.stderr
    rows = {line.split("│")[1].strip(): line for line in human.stdout.splitlines() if "│" in line}
    assert re.search(r"│ +1 │ +1 │ +0 │ .*│ +100 B/s │ +1:30 │", rows["2026-03-10 12:00"])
    assert "video_private 2" in rows["2026-03-10 14:00"]
    assert "video_private 2" in rows["total"]

    backwards = yds(cli_stack, key, "stats", "--timeseries", "--from", "2026-03-11",
                    "--to", "2026-03-10", "--json")  # fmt: skip
    assert backwards.returncode == 2
    assert as_json(backwards)["error"]["code"] == "invalid_time_range"
    misplaced = yds(cli_stack, key, "stats", "--bucket", "hour")
    assert misplaced.returncode == 2 and "--timeseries" in misplaced.stderr


def test_a_detached_download_is_resumed_with_output(
    cli_stack: Stack, key: str, tmp_path: Path
) -> None:
    url = throttled_copy(cli_stack.youtube, "cliResume01", 300_000)
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "download", url, "--quality", "360p",
         "--output", str(tmp_path)],
        cwd=REPO, env=yds_env(cli_stack, key), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    job = _wait_for_processing(cli_stack, key, "cliResume01")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert f"yds jobs show {job['job_id']} --output {tmp_path}" in err
    assert not list(tmp_path.glob("*.mp4")), "nothing is saved by the detached command"

    resumed = yds(cli_stack, key, "jobs", "show", job["job_id"][:8], "--output", str(tmp_path),
                  "--json")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    report = as_json(resumed)
    assert report["jobs"][0]["status"] == "completed"
    saved = [Path(item["path"]) for item in report["saved"]]
    assert any(path.suffix == ".mp4" for path in saved)
    for item in report["saved"]:
        assert sha256(Path(item["path"])) == item["sha256"]


async def test_a_queued_job_says_why_it_waits_in_the_api_the_websocket_and_the_cli(
    start_stack: StartStack, offline_youtube: OfflineYouTube
) -> None:
    """With no worker alive a queued job says `no_workers`; once one starts, the job runs
    and the reason is gone."""
    stack = start_stack("cli-idle", workers=0, redis_db=14)
    key = stack.key("cli")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as http:
        job = await submit(http, key, offline_youtube.video_url(STANDARD_VIDEO_ID), quality="360p")
        assert job["status"] == "queued" and job["waiting_reason"] == "no_workers", job
        assert job["retry_at"] is None

        snapshot = await watch(
            stack.ws_url, job["job_id"], key=key, within=30, until=lambda e: True
        )
        assert snapshot.events[0]["type"] == "snapshot"
        assert snapshot.events[0]["job"]["waiting_reason"] == "no_workers"

        shown = yds(stack, key, "jobs", "show", job["job_id"])
        assert shown.returncode == 0, shown.stderr
        assert "queued" in shown.stdout and "waiting: no_workers" in shown.stdout, shown.stdout
        listed = as_json(yds(stack, key, "--json", "jobs", "list"))
        assert [j["waiting_reason"] for j in listed] == ["no_workers"]

        stack.workers.append(start_worker(stack.env, stack.log_dir, name="late-worker"))
        done = await wait_for(http, key, job["job_id"], lambda j: j["status"] == "completed")
        assert done["waiting_reason"] is None and done["retry_at"] is None


def test_jobs_pause_and_resume(cli_stack: Stack, key: str) -> None:
    # 16 KB/s a connection: a minute for the video, so still downloading at the pause
    # however loaded the machine. The pause is seen between reads (at least 4 KiB each).
    slow = throttled_copy(cli_stack.youtube, "cliPauseSlw", 16_000)
    job = as_json(yds(cli_stack, key, "download", slow, *SMALL, "--json"))["jobs"][0]
    job_id = job["job_id"]

    paused = as_json(yds(cli_stack, key, "jobs", "pause", job_id[:8], "--json"))
    assert paused["job_id"] == job_id
    assert paused["status"] == "paused" or paused["pause_requested"]
    deadline = time.monotonic() + 30
    while as_json(yds(cli_stack, key, "jobs", "show", job_id, "--json"))["status"] != "paused":
        assert time.monotonic() < deadline, "the job pauses within seconds"
    human = yds(cli_stack, key, "jobs", "pause", job_id)
    assert human.returncode == 0 and human.stdout.startswith(f"paused  {job_id}"), human.stdout

    resumed = yds(cli_stack, key, "jobs", "resume", job_id)
    assert resumed.returncode == 0 and resumed.stdout.startswith(f"resumed  {job_id}")
    again = yds(cli_stack, key, "jobs", "resume", job_id, "--json")
    assert again.returncode == 2 and as_json(again)["error"]["code"] == "job_not_paused"

    yds(cli_stack, key, "jobs", "cancel", job_id)
    deadline = time.monotonic() + 30
    while as_json(yds(cli_stack, key, "jobs", "show", job_id, "--json"))["status"] != "canceled":
        assert time.monotonic() < deadline, "the job is canceled"
    ended = yds(cli_stack, key, "jobs", "pause", job_id, "--json")
    assert ended.returncode == 2 and as_json(ended)["error"]["code"] == "job_not_pausable"


def test_download_takes_a_priority(cli_stack: Stack, key: str) -> None:
    url = cli_stack.youtube.video_url(STANDARD_VIDEO_ID)
    sent = yds(cli_stack, key, "download", url, "--transcript-only", "--priority", "high",
               "--json")  # fmt: skip
    job = as_json(sent)["jobs"][0]
    assert job["priority"] == "high"
    shown = as_json(yds(cli_stack, key, "jobs", "show", job["job_id"], "--json"))
    assert shown["priority"] == "high"
