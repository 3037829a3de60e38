from __future__ import annotations

import pytest

from app.transcripts.cleaning import clean_text, derolled, normalized
from app.transcripts.cues import Cue


def test_derolled_keeps_each_line_once_from_its_typing_cue() -> None:
    rolling = [
        Cue(0.0, 1.0, " \nfirst<00:00:00.500><c> line</c>"),
        Cue(1.0, 1.01, "first line\n "),
        Cue(1.01, 2.0, "first line\nsecond<00:00:01.500><c> line</c>"),
        Cue(2.0, 2.01, "second line\n "),
        Cue(2.01, 3.0, "second line\nthird line"),
    ]

    lines = normalized(derolled(rolling))

    assert [Cue(cue.start, cue.end, cue.text) for cue in lines] == [
        Cue(0.0, 1.0, "first line"),
        Cue(1.01, 2.0, "second line"),
        Cue(2.01, 3.0, "third line"),
    ]


def test_derolled_keeps_a_line_that_is_really_said_twice() -> None:
    rolling = [
        Cue(0.0, 1.0, "no"),
        Cue(1.0, 1.01, "no\n "),
        Cue(1.01, 2.0, "no\nno"),
    ]

    assert derolled(rolling) == [Cue(0.0, 1.0, "no"), Cue(1.01, 2.0, "no")]


def test_derolled_treats_a_pause_as_a_cleared_screen() -> None:
    rolling = [Cue(0.0, 1.0, "[Music]"), Cue(5.0, 6.0, " \n[Music]")]

    assert derolled(rolling) == [Cue(0.0, 1.0, "[Music]"), Cue(5.0, 6.0, "[Music]")]


def test_derolled_skips_blank_cues_without_repeating_the_line_on_screen() -> None:
    rolling = [Cue(0.0, 1.0, "one"), Cue(1.0, 1.01, " "), Cue(1.01, 2.0, "one\ntwo")]

    assert derolled(rolling) == [Cue(0.0, 1.0, "one"), Cue(1.01, 2.0, "two")]


def test_derolled_clips_a_line_to_the_start_of_the_next() -> None:
    rolling = [Cue(0.0, 3.0, "one"), Cue(2.0, 4.0, "one\ntwo")]

    assert derolled(rolling) == [Cue(0.0, 2.0, "one"), Cue(2.0, 4.0, "two")]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("<i>Hello</i> &amp; <00:00:01.000><c> bye</c>", "Hello & bye"),
        ("  two   spaces\t\tand tabs  ", "two spaces and tabs"),
        ("first line \n\n   second   line", "first line\nsecond line"),
        ("it&#39;s&nbsp;fine &lt;3", "it's fine <3"),
        ("<v Roger>[Music]</v>", "[Music]"),
        (" \n ", ""),
    ],
)
def test_clean_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_without_markup_keeps_angle_brackets_and_ampersands() -> None:
    assert clean_text(" a <b> &amp;  c ", markup=False) == "a <b> &amp; c"


def test_normalized_drops_empty_and_zero_length_cues() -> None:
    cues = [
        Cue(0.0, 1.0, " "),
        Cue(1.0, 2.0, "<c></c>"),
        Cue(2.0, 2.0, "instant"),
        Cue(3.0, 2.5, "backwards"),
        Cue(4.0, 5.0, "kept"),
    ]

    assert normalized(cues) == [Cue(4.0, 5.0, "kept")]


def test_normalized_sorts_and_clips_overlaps() -> None:
    cues = [Cue(2.0, 5.0, "second"), Cue(0.0, 3.0, "first"), Cue(4.0, 6.0, "third")]

    assert normalized(cues) == [
        Cue(0.0, 2.0, "first"),
        Cue(2.0, 4.0, "second"),
        Cue(4.0, 6.0, "third"),
    ]


def test_normalized_merges_consecutive_identical_text() -> None:
    cues = [Cue(0.0, 1.0, "same"), Cue(1.0, 2.0, "<b>same</b>"), Cue(2.5, 3.0, "other")]

    assert normalized(cues) == [Cue(0.0, 2.0, "same"), Cue(2.5, 3.0, "other")]


def test_normalized_combines_cues_starting_together() -> None:
    cues = [Cue(1.0, 2.0, "[Applause]"), Cue(1.0, 3.0, "Thank you")]

    assert normalized(cues) == [Cue(1.0, 3.0, "[Applause]\nThank you")]


def test_normalized_puts_times_on_the_millisecond_grid() -> None:
    assert normalized([Cue(-0.2, 1.23456, "x")]) == [Cue(0.0, 1.235, "x")]


def test_normalized_keeps_manual_cue_boundaries_and_line_breaks() -> None:
    manual = [
        Cue(0.24, 2.0, "Hello everyone!"),
        Cue(2.0, 5.3, "This is another video\nabout bread."),
        Cue(5.42, 6.8, "It's easy."),
    ]

    assert normalized(manual) == manual
