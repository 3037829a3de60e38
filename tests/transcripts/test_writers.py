from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.transcripts.cues import Cue
from app.transcripts.parsing import UnsupportedCaptionFormat, parse_srt, parse_track, parse_vtt
from app.transcripts.writers import read_stored, to_json, to_json_text, to_srt, to_txt, to_vtt

CAPTIONS = Path(__file__).parent.parent / "fixtures" / "captions"
EN_PARAGRAPHS = [
    "hello everyone and welcome back to another short video about baking your own bread at "
    "home it's easier than you think",
    "first mix the flour with warm water and a pinch of salt then let the dough rest for "
    "about an hour",
    "finally bake it in a hot oven until the crust turns golden thanks for watching",
]
LONG_VIDEO = [
    Cue(0.0, 0.001, "a"),
    Cue(59.999, 61.5, "over a minute"),
    Cue(3725.5, 3726.004, "over an hour\nsecond line"),
    Cue(36000.0, 36001.999, "ten hours in"),
]
HARD_TEXT = [
    Cue(1.0, 2.0, "Tom & Jerry"),
    Cue(2.0, 3.0, "AT&amp;T is literal"),
    Cue(3.0, 4.0, "1 < 2 and 3 > 2"),
    Cue(4.0, 5.0, "<b>not bold</b> --> arrow"),
    Cue(5.0, 6.0, "Grüße, 日本語 🍞"),
]


def _track(name: str) -> list[Cue]:
    return parse_track(CAPTIONS / name, auto=not name.startswith("manual"))


def _tracks() -> list[str]:
    return ["manual.en.vtt", "manual.de.vtt", "auto_rolling.en.vtt", "auto_rolling.de.json3"]


def test_srt_text() -> None:
    cues = [Cue(0.24, 2.0, "Hello"), Cue(3725.5, 3726.004, "two\nlines")]

    assert to_srt(cues) == (
        "1\n00:00:00,240 --> 00:00:02,000\nHello\n\n"
        "2\n01:02:05,500 --> 01:02:06,004\ntwo\nlines\n\n"
    )


def test_vtt_text() -> None:
    cues = [Cue(0.24, 2.0, "Hello & bye"), Cue(3725.5, 3726.004, "two\nlines")]

    assert to_vtt(cues) == (
        "WEBVTT\n\n00:00:00.240 --> 00:00:02.000\nHello &amp; bye\n\n"
        "01:02:05.500 --> 01:02:06.004\ntwo\nlines\n"
    )


def test_writers_leave_out_blank_lines_that_would_end_a_cue() -> None:
    cues = [Cue(1.0, 2.0, "one\n\n  \ntwo")]

    assert parse_srt(to_srt(cues)) == [Cue(1.0, 2.0, "one\ntwo")]
    assert parse_vtt(to_vtt(cues), auto=False) == [Cue(1.0, 2.0, "one\ntwo")]


@pytest.mark.parametrize("name", _tracks())
def test_tracks_survive_srt_and_vtt(tmp_path: Path, name: str) -> None:
    timed = _track(name)
    cues = [Cue(cue.start, cue.end, cue.text) for cue in timed]  # SRT and VTT hold no words
    srt, vtt, stored_json = tmp_path / "out.srt", tmp_path / "out.vtt", tmp_path / "out.json"
    srt.write_text(to_srt(timed), encoding="utf-8")
    vtt.write_text(to_vtt(timed), encoding="utf-8")
    stored_json.write_text(to_json_text(timed), encoding="utf-8")

    assert parse_srt(to_srt(timed)) == cues
    assert parse_vtt(to_vtt(timed), auto=False) == cues
    assert parse_track(srt, auto=False) == parse_track(vtt, auto=False) == cues
    assert read_stored(srt) == read_stored(vtt) == cues
    assert to_json(read_stored(stored_json)) == to_json(timed), "json keeps the words"


def test_manual_two_line_cues_survive_the_round_trip() -> None:
    cues = _track("manual.en.vtt")
    two_line = [cue for cue in cues if "\n" in cue.text]

    assert len(two_line) == 4
    assert [cue for cue in parse_srt(to_srt(cues)) if "\n" in cue.text] == two_line
    assert [cue for cue in parse_vtt(to_vtt(cues), auto=False) if "\n" in cue.text] == two_line


@pytest.mark.parametrize("cues", [LONG_VIDEO, HARD_TEXT], ids=["long", "hard-text"])
def test_vtt_round_trip_is_exact(tmp_path: Path, cues: list[Cue]) -> None:
    path = tmp_path / "out.vtt"
    path.write_text(to_vtt(cues), encoding="utf-8")

    assert parse_vtt(to_vtt(cues), auto=False) == cues
    assert read_stored(path) == cues


@pytest.mark.parametrize("cues", [LONG_VIDEO, HARD_TEXT], ids=["long", "hard-text"])
def test_stored_srt_reads_back_exactly(tmp_path: Path, cues: list[Cue]) -> None:
    path = tmp_path / "out.srt"
    path.write_text(to_srt(cues), encoding="utf-8")

    assert read_stored(path) == cues


def test_srt_round_trip_over_an_hour() -> None:
    assert parse_srt(to_srt(LONG_VIDEO)) == LONG_VIDEO


def _ffmpeg(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", _tracks())
@pytest.mark.parametrize("extension", ["srt", "vtt"])
def test_ffmpeg_accepts_the_output(tmp_path: Path, name: str, extension: str) -> None:
    cues = _track(name)
    path = tmp_path / f"out.{extension}"
    path.write_text(to_srt(cues) if extension == "srt" else to_vtt(cues), encoding="utf-8")

    # ffmpeg maps no subtitle stream to the null muxer on its own ("does not contain any
    # stream"), so the stream is mapped and decoded/re-encoded explicitly.
    checked = _ffmpeg("-i", str(path), "-map", "0", "-c:s", "srt", "-f", "null", "-")
    converted = _ffmpeg("-i", str(path), "-f", "srt", "-")

    assert checked.returncode == 0 and not checked.stderr, checked.stderr
    assert converted.returncode == 0, converted.stderr
    assert [(cue.start, cue.end, cue.text) for cue in parse_srt(converted.stdout)] == [
        (cue.start, cue.end, cue.text) for cue in cues
    ]


def test_txt_of_the_short_rolling_track_breaks_at_the_long_pause() -> None:
    cues = _track("auto_rolling.en.vtt")
    txt = to_txt(cues)
    paragraphs = txt.split("\n\n")

    assert txt.endswith("watching\n") and not txt.endswith("\n\n")
    # 50 words: too few for three paragraphs; the long pause before "finally" ends one.
    assert [paragraph.strip() for paragraph in paragraphs] == [
        f"{EN_PARAGRAPHS[0]} {EN_PARAGRAPHS[1]}",
        EN_PARAGRAPHS[2],
    ]
    for cue in cues:
        assert txt.count(cue.text) == 1, cue.text


def test_txt_of_the_manual_track_reads_as_prose() -> None:
    txt = to_txt(_track("manual.en.vtt"))

    assert txt.split("\n\n")[0] == (
        "Hello everyone, and welcome back! This is another short video about baking your own "
        "bread at home. It's easier than you think. First, mix the flour with warm water and a "
        "pinch of salt. Then let the dough rest for about an hour."
    )
    assert txt.count("\n\n") == 1 and "\n\n\n" not in txt


def test_txt_of_nothing_is_empty() -> None:
    assert to_txt([]) == ""


def test_json_rounds_to_the_millisecond() -> None:
    cues = [Cue(1.23456, 2.0004, "two\nlines"), Cue(3725.5, 3726.0, "later")]

    assert to_json(cues) == [
        {"start": 1.235, "end": 2.0, "text": "two\nlines"},
        {"start": 3725.5, "end": 3726.0, "text": "later"},
    ]


def test_read_stored_refuses_other_formats(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("hello\n", encoding="utf-8")

    with pytest.raises(UnsupportedCaptionFormat):
        read_stored(path)
