"""yt-dlp updates without a rebuild: offline, from wheels in a local directory
(YTDLP_UPDATE_FIND_LINKS) made from the installed yt-dlp with another version."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from app.core.config import Settings, YtdlpUpdate
from app.youtube.updates import UpdateResult, update_status, update_ytdlp
from tests.support.ytdlp_wheels import build_ytdlp

PINNED = metadata.version("yt-dlp")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of wheels with yt-dlp 2099.1.1 (and the installed EJS package)."""
    folder = tmp_path_factory.mktemp("wheels")
    build_ytdlp(folder, "2099.1.1")
    return folder


def settings_for(update_dir: Path, find_links: Path, mode: str = "stable") -> Settings:
    return Settings(
        ytdlp_update=YtdlpUpdate(mode),
        ytdlp_update_dir=update_dir,
        ytdlp_update_find_links=str(find_links),
    )


def loaded_version(update_dir: Path, mode: str = "stable") -> str:
    """The yt-dlp a new process of ours loads, as `yt_dlp.version` reports it."""
    env = {**os.environ, "YTDLP_UPDATE": mode, "YTDLP_UPDATE_DIR": str(update_dir)}
    code = "import app.core.celery_app, yt_dlp.version; print(yt_dlp.version.__version__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_passing_update_becomes_the_version_new_processes_load(
    tmp_path: Path, wheels: Path
) -> None:
    settings = settings_for(tmp_path / "ytdlp", wheels)
    attempt = update_ytdlp(settings)
    assert attempt is not None and attempt.result is UpdateResult.UPDATED, attempt
    assert (tmp_path / "ytdlp" / "current").read_text().strip() == "2099.1.1"
    assert loaded_version(tmp_path / "ytdlp") == "2099.1.1"
    status = update_status(settings)
    assert (status.mode, status.pinned_version, status.active_version) == (
        "stable",
        PINNED,
        "2099.1.1",
    )
    assert status.last_result == "updated" and status.last_attempt_at is not None
    assert status.last_message == f"yt-dlp {PINNED} -> 2099.1.1"
    # Nothing newer: nothing changes, and the status says so.
    again = update_ytdlp(settings)
    assert again is not None and again.result is UpdateResult.UP_TO_DATE
    assert update_status(settings).last_result == "up_to_date"
    assert loaded_version(tmp_path / "ytdlp") == "2099.1.1"


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        ("import", "ImportError: this build is broken"),
        ("download", "RuntimeError: the downloaded file differs from what was served"),
    ],
)
def test_an_update_that_fails_its_self_check_is_rolled_back(
    tmp_path: Path, wheels: Path, breakage: str, reason: str
) -> None:
    settings = settings_for(tmp_path / "ytdlp", wheels)
    assert update_ytdlp(settings) is not None
    broken = tmp_path / "broken-wheels"
    build_ytdlp(broken, "2099.2.2", broken=breakage)
    attempt = update_ytdlp(settings_for(tmp_path / "ytdlp", broken))
    assert attempt is not None and attempt.result is UpdateResult.FAILED_SELF_CHECK
    status = update_status(settings)
    assert status.last_result == "failed_self_check"
    assert status.last_message is not None
    assert "2099.2.2 failed its self-check, keeping 2099.1.1" in status.last_message
    assert status.last_message.endswith(reason)
    assert (tmp_path / "ytdlp" / "current").read_text().strip() == "2099.1.1"
    assert not (tmp_path / "ytdlp" / "versions" / "2099.2.2").exists()
    assert loaded_version(tmp_path / "ytdlp") == "2099.1.1"


def test_an_install_that_fails_keeps_the_pinned_version(tmp_path: Path) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    settings = settings_for(tmp_path / "ytdlp", empty)
    attempt = update_ytdlp(settings)
    assert attempt is not None and attempt.result is UpdateResult.INSTALL_FAILED
    assert "installing failed" in attempt.message
    status = update_status(settings)
    assert (status.active_version, status.last_result) == (PINNED, "install_failed")
    assert loaded_version(tmp_path / "ytdlp") == PINNED


def test_with_updates_off_nothing_is_installed_or_loaded(tmp_path: Path, wheels: Path) -> None:
    settings = settings_for(tmp_path / "ytdlp", wheels, mode="off")
    assert update_ytdlp(settings) is None
    assert not (tmp_path / "ytdlp").exists()
    status = update_status(settings)
    assert (status.mode, status.active_version, status.last_result) == ("off", PINNED, None)
    # An update made while on is not loaded once updates are turned off.
    assert update_ytdlp(settings_for(tmp_path / "ytdlp", wheels)) is not None
    assert loaded_version(tmp_path / "ytdlp", mode="off") == PINNED
    assert update_status(settings).active_version == PINNED


def test_a_missing_or_broken_pointer_loads_the_pinned_version(tmp_path: Path, wheels: Path) -> None:
    update_dir = tmp_path / "ytdlp"
    assert update_ytdlp(settings_for(update_dir, wheels)) is not None
    for pointer in ["", "../..", "2099.9.9", "versions", "\udcff"]:
        (update_dir / "current").write_text(pointer, errors="surrogateescape")
        assert loaded_version(update_dir) == PINNED, pointer
    (update_dir / "current").unlink()
    assert loaded_version(update_dir) == PINNED


def test_the_version_before_the_active_one_is_kept_and_older_ones_pruned(
    tmp_path: Path, wheels: Path
) -> None:
    update_dir = tmp_path / "ytdlp"
    assert update_ytdlp(settings_for(update_dir, wheels)) is not None
    for version in ("2099.3.3", "2099.4.4"):
        newer = tmp_path / f"wheels-{version}"
        build_ytdlp(newer, version)
        attempt = update_ytdlp(settings_for(update_dir, newer))
        assert attempt is not None and attempt.result is UpdateResult.UPDATED, attempt
    kept = sorted(p.name for p in (update_dir / "versions").iterdir())
    assert kept == ["2099.3.3", "2099.4.4"]
    # What a worker killed mid-install leaves goes at the next attempt.
    (update_dir / "versions" / ".incoming-killed" / "yt_dlp").mkdir(parents=True)
    assert update_ytdlp(settings_for(update_dir, tmp_path / "wheels-2099.4.4")) is not None
    kept = sorted(p.name for p in (update_dir / "versions").iterdir())
    assert kept == ["2099.3.3", "2099.4.4"]
    assert loaded_version(update_dir) == "2099.4.4"
    # A rollback by hand: name the previous version in `current`.
    (update_dir / "current").write_text("2099.3.3\n")
    assert loaded_version(update_dir) == "2099.3.3"


def test_a_failing_mirror_is_reported_without_its_password(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    settings = Settings(
        ytdlp_update=YtdlpUpdate.STABLE,
        ytdlp_update_dir=tmp_path / "ytdlp",
        ytdlp_update_index_url=f"http://mirror:hunter2@127.0.0.1:{port}/simple",
    )
    try:
        attempt = update_ytdlp(settings)
    finally:
        closed.close()
    assert attempt is not None and attempt.result is UpdateResult.INSTALL_FAILED, attempt
    assert "hunter2" not in (tmp_path / "ytdlp" / "status.json").read_text()
    assert update_status(settings).last_message == attempt.message
    # A status file edited by hand is read as far as it makes sense.
    (tmp_path / "ytdlp" / "status.json").write_text(
        '{"attempted_at": "yesterday", "result": "exploded"}'
    )
    status = update_status(settings)
    assert (status.last_attempt_at, status.last_result) == (None, None)


def test_an_update_older_than_the_pinned_yt_dlp_is_not_loaded(tmp_path: Path) -> None:
    """An image rebuilt with a newer yt-dlp than the one its volume was updated to."""
    wheels, update_dir = tmp_path / "wheels", tmp_path / "ytdlp"
    build_ytdlp(wheels, "2000.1.1")
    target = update_dir / "versions" / "2000.1.1"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--no-index", "--no-deps",
         "--find-links", str(wheels), "--target", str(target), "--quiet", "yt-dlp", "yt-dlp-ejs"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    (update_dir / "current").write_text("2000.1.1\n")
    assert loaded_version(update_dir) == PINNED
    assert update_status(settings_for(update_dir, wheels)).active_version == PINNED


@pytest.fixture
def mirror(wheels: Path, tmp_path: Path) -> Iterator[str]:
    """A package index (PEP 503's simple layout) on loopback serving the wheels."""
    root = tmp_path / "mirror"
    for wheel in wheels.glob("*.whl"):
        project = root / "simple" / wheel.name.split("-")[0].replace("_", "-")
        project.mkdir(parents=True, exist_ok=True)
        shutil.copy(wheel, project / wheel.name)
        (project / "index.html").write_text(f'<a href="{wheel.name}">{wheel.name}</a>\n')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


def test_an_update_from_a_mirror_that_wants_a_password(tmp_path: Path, mirror: str) -> None:
    settings = Settings(
        ytdlp_update=YtdlpUpdate.STABLE,
        ytdlp_update_dir=tmp_path / "ytdlp",
        ytdlp_update_index_url=mirror.replace("http://", "http://mirror:hunter2@"),
    )
    attempt = update_ytdlp(settings)
    assert attempt is not None and attempt.result is UpdateResult.UPDATED, attempt
    assert loaded_version(tmp_path / "ytdlp") == "2099.1.1"
    assert "hunter2" not in (tmp_path / "ytdlp" / "status.json").read_text()
