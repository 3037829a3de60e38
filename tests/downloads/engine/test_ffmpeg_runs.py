"""How the engine runs ffmpeg: it returns as ffmpeg ends, reports a failure, and a stop
check raising (a cancel) kills a run that is still going."""

from __future__ import annotations

import threading
from pathlib import Path

import ffmpeg
import pytest

from app.downloads.engine.media import MediaError, _run
from app.downloads.exceptions import JobCanceled


def test_a_finished_run_leaves_its_output(tmp_path: Path) -> None:
    output = tmp_path / "tone.wav"
    _run(ffmpeg.input("sine=duration=0.1", f="lavfi").output(str(output)), lambda: None)
    assert output.stat().st_size > 0


def test_a_failed_run_raises_with_ffmpeg_s_last_line(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="ffmpeg failed"):
        _run(ffmpeg.input(str(tmp_path / "missing.mp4")).output(str(tmp_path / "out.mp4")),
             lambda: None)  # fmt: skip


def test_a_stop_check_raising_kills_the_running_ffmpeg(tmp_path: Path) -> None:
    started = threading.Event()

    def check_stop() -> None:
        if started.is_set():
            raise JobCanceled()
        started.set()  # the first check passes; the next one, while ffmpeg runs, cancels

    # Read at its native rate, an hour of silence runs until it is killed.
    endless = ffmpeg.input("anullsrc", f="lavfi", t=3600, re=None).output("-", f="null")
    with pytest.raises(JobCanceled):
        _run(endless, check_stop)
