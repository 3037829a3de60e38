"""One monotonic figure per job across formats and stages, pushed at a bounded rate."""

from __future__ import annotations

import uuid

import pytest

from app.downloads.engine.progress import ProgressTracker
from app.jobs.events import ProgressEvent
from app.jobs.models import JobStage, JobStatus


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_tracker(floor: float = 0.0) -> tuple[ProgressTracker, list[ProgressEvent], Clock]:
    events: list[ProgressEvent] = []
    clock = Clock()
    tracker = ProgressTracker(uuid.uuid4(), publish=events.append, floor=floor, clock=clock)
    return tracker, events, clock


def test_video_and_audio_parts_share_one_bar_weighted_by_size() -> None:
    tracker, events, clock = make_tracker()
    tracker.expect({"137": 900, "140": 100})
    tracker.set_stage(JobStage.DOWNLOADING)
    figures = []
    for done in range(0, 901, 100):
        clock.now += 1
        tracker.update_part("137", done=done, total=900, speed=100.0, finished=done == 900)
        figures.append(tracker.progress)
    for done in (0, 50, 100):
        clock.now += 1
        tracker.update_part("140", done=done, total=100, speed=100.0, finished=done == 100)
        figures.append(tracker.progress)

    assert figures == sorted(figures), "the audio part does not restart the bar at 0"
    assert 80 < figures[9] < 82, "90% of the bytes is 90% of the download band"
    assert tracker.progress == 90.0
    assert [e.progress for e in events] == sorted(e.progress for e in events)


def test_stages_only_move_forward_and_each_is_published_at_once() -> None:
    tracker, events, _ = make_tracker()
    tracker.set_stage(JobStage.DOWNLOADING)
    tracker.set_stage(JobStage.EXTRACTING)
    tracker.set_stage(JobStage.UPLOADING)
    tracker.set_stage(JobStage.POSTPROCESSING)
    assert [e.stage for e in events] == [JobStage.DOWNLOADING, JobStage.UPLOADING]
    assert all(e.type == "stage" for e in events)
    assert tracker.progress == 96.0


def test_progress_events_are_throttled_to_about_four_per_second() -> None:
    tracker, events, clock = make_tracker()
    tracker.expect({"18": 10_000})
    tracker.set_stage(JobStage.DOWNLOADING)
    for step in range(1, 101):
        clock.now = step * 0.01  # 100 hook calls within one second
        tracker.update_part("18", done=step * 50, total=10_000, speed=5000.0, finished=False)
    progress_events = [e for e in events if e.type == "progress"]
    assert 3 <= len(progress_events) <= 5


def test_unknown_sizes_count_parts_equally_and_never_go_back() -> None:
    tracker, _, clock = make_tracker(floor=40.0)
    tracker.expect({"a": None, "b": None})
    tracker.set_stage(JobStage.DOWNLOADING)
    assert tracker.progress == 40.0, "a resumed job never shows less than it did"
    clock.now += 1
    tracker.update_part("a", done=10, total=None, speed=None, finished=True)
    assert tracker.progress == 46.0  # half of the 2-90 band
    tracker.update_part("b", done=5, total=None, speed=None, finished=True)
    assert tracker.progress == 90.0


def test_completed_status_reports_100_without_a_stage() -> None:
    tracker, events, _ = make_tracker()
    tracker.publish_status(JobStatus.COMPLETED)
    assert events[-1].status is JobStatus.COMPLETED
    assert events[-1].progress == 100.0 and events[-1].stage is None


def test_a_part_of_unknown_size_weighs_as_much_as_the_known_ones_on_average() -> None:
    tracker, _, clock = make_tracker()
    tracker.expect({"137": 800, "140": 200, "dash": None})
    tracker.set_stage(JobStage.DOWNLOADING)
    clock.now += 1
    tracker.update_part("137", done=800, total=800, speed=None, finished=True)
    # 800 of 800 + 200 + 500 (the average of the known sizes) expected bytes
    assert tracker.progress == pytest.approx(2 + 88 * 800 / 1500)


def test_a_format_finishing_after_postprocessing_began_does_not_push_the_figure_up() -> None:
    tracker, _, clock = make_tracker()
    tracker.expect({"137": 900, "140": 100})
    tracker.set_stage(JobStage.DOWNLOADING)
    tracker.update_part("137", done=900, total=900, speed=None, finished=True)
    tracker.set_stage(JobStage.POSTPROCESSING)
    clock.now += 1
    tracker.update_part("140", done=100, total=100, speed=None, finished=True)
    assert tracker.progress == 90.0, "bytes count in the download band only"


def test_postprocessing_moves_with_its_finished_steps_then_storing_with_its_bytes() -> None:
    tracker, _, clock = make_tracker()
    tracker.set_stage(JobStage.POSTPROCESSING)
    figures = []
    for step in (1, 2, 3):
        clock.now += 1
        tracker.advance(step / 3)
        figures.append(tracker.progress)
    assert figures == [92.0, 94.0, 96.0]
    tracker.set_stage(JobStage.UPLOADING)
    tracker.advance(0.5)
    assert tracker.progress == 98.0
