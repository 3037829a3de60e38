from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from app.transcripts.cues import Cue, Word
from app.transcripts.parsing import (
    CaptionParseError,
    UnsupportedCaptionFormat,
    parse_json3,
    parse_srt,
    parse_track,
    parse_vtt,
)

CAPTIONS = Path(__file__).parent.parent / "fixtures" / "captions"
AUTO_TRACKS = [
    "auto_rolling.en.vtt",
    "auto_rolling.en.json3",
    "auto_rolling.de.vtt",
    "auto_rolling.de.json3",
]
EN_TEXT = (
    "hello everyone and welcome back to another short video about baking your own bread "
    "at home it's easier than you think first mix the flour with warm water and a pinch of "
    "salt then let the dough rest for about an hour finally bake it in a hot oven until the "
    "crust turns golden thanks for watching"
)
EN_STARTS = [0.24, 2.0, 3.64, 5.42, 8.6, 9.76, 10.68, 11.8, 13.08, 15.8, 17.64, 19.08]
EN_ENDS = [1.99, 3.63, 5.41, 6.8, 9.75, 10.67, 11.79, 13.07, 14.0, 17.63, 19.07, 19.88]
MANUAL_EN = [
    Cue(0.24, 2.0, "Hello everyone, and welcome back!"),
    Cue(2.0, 5.3, "This is another short video\nabout baking your own bread at home."),
    Cue(5.42, 6.8, "It's easier than you think."),
    Cue(8.6, 11.68, "First, mix the flour with warm water\nand a pinch of salt."),
    Cue(11.8, 14.0, "Then let the dough rest\nfor about an hour."),
    Cue(15.8, 19.0, "Finally, bake it in a hot oven\nuntil the crust turns golden."),
    Cue(19.08, 19.88, "Thanks for watching!"),
]


def _auto(name: str) -> list[Cue]:
    return parse_track(CAPTIONS / name, auto=True)


def _json3_words(name: str) -> list[str]:
    events = json.loads((CAPTIONS / name).read_text(encoding="utf-8"))["events"]
    texts = ("".join(seg["utf8"] for seg in event.get("segs", [])) for event in events)
    return " ".join(texts).split()


def _truncated(name: str) -> str:
    text = (CAPTIONS / name).read_text(encoding="utf-8")
    return text[: text.index("00:00:08.600 --> 00:00:0") + len("00:00:08.600 --> 00:00:0")]


@pytest.mark.parametrize("name", AUTO_TRACKS)
def test_auto_track_has_no_line_twice_anywhere(name: str) -> None:
    lines = [line for cue in _auto(name) for line in cue.lines]

    assert len(lines) > 5
    assert len(lines) == len(set(lines)), lines


@pytest.mark.parametrize("name", AUTO_TRACKS)
def test_auto_track_text_is_clean(name: str) -> None:
    for cue in _auto(name):
        assert cue.text.strip() and "<" not in cue.text and ">" not in cue.text, cue
        assert all(line == line.strip() and "  " not in line for line in cue.lines), cue


@pytest.mark.parametrize("name", AUTO_TRACKS)
def test_auto_track_timings_are_monotonic(name: str) -> None:
    cues = _auto(name)

    assert all(cue.end > cue.start for cue in cues)
    for cue, following in pairwise(cues):
        assert cue.start < following.start, (cue, following)
        assert cue.end <= following.start, (cue, following)


@pytest.mark.parametrize("language", ["en", "de"])
def test_vtt_and_json3_twins_agree(language: str) -> None:
    from_vtt = _auto(f"auto_rolling.{language}.vtt")
    from_json3 = _auto(f"auto_rolling.{language}.json3")

    assert [cue.text for cue in from_vtt] == [cue.text for cue in from_json3]
    for vtt_cue, json3_cue in zip(from_vtt, from_json3, strict=True):
        assert abs(vtt_cue.start - json3_cue.start) <= 0.05, (vtt_cue, json3_cue)
        assert abs(vtt_cue.end - json3_cue.end) <= 0.05, (vtt_cue, json3_cue)


@pytest.mark.parametrize("extension", ["vtt", "json3"])
def test_auto_track_says_every_word_once_in_order(extension: str) -> None:
    en = " ".join(cue.text for cue in _auto(f"auto_rolling.en.{extension}"))
    de = " ".join(cue.text for cue in _auto(f"auto_rolling.de.{extension}"))

    assert " ".join(en.split()) == EN_TEXT
    assert de.split() == _json3_words("auto_rolling.de.json3")


@pytest.mark.parametrize("extension", ["vtt", "json3"])
def test_auto_line_starts_when_it_first_appears(extension: str) -> None:
    cues = _auto(f"auto_rolling.en.{extension}")

    assert [cue.start for cue in cues] == EN_STARTS
    assert [cue.end for cue in cues] == pytest.approx(EN_ENDS, abs=0.011)


def test_manual_track_keeps_cues_exactly() -> None:
    assert parse_track(CAPTIONS / "manual.en.vtt", auto=False) == MANUAL_EN


def test_manual_german_track_keeps_umlauts_and_line_breaks() -> None:
    cues = parse_track(CAPTIONS / "manual.de.vtt", auto=False)

    assert len(cues) == 7
    assert cues[0] == Cue(0.24, 2.0, "Hallo zusammen und willkommen zurück!")
    assert cues[5].text == "Zum Schluss in einem heißen Ofen backen,\nbis die Kruste goldbraun ist."


def test_youtube_vtt_quirks() -> None:
    vtt = (
        "WEBVTT\nKind: captions\nLanguage: en\n\n"
        "00:00:00.000 --> 00:00:01.000 align:start position:0%\n \n\n"
        "00:00:01.000 --> 00:00:02.990 align:start position:0%\n \n"
        "[Music]\n\n"
        "00:00:02.990 --> 00:00:03.000 align:start position:0%\n[Music]\n \n\n"
        "00:00:03.000 --> 00:00:05.000 align:start position:0%\n[Music]\n"
        "salt<00:00:03.400><c> &amp;</c><00:00:03.800><c> pepper</c>\n"
    )

    cues = parse_vtt(vtt, auto=True)

    assert [(cue.start, cue.end, cue.text) for cue in cues] == [
        (1.0, 2.99, "[Music]"),
        (3.0, 5.0, "salt & pepper"),
    ]
    assert cues[1].words == (
        Word(3.0, 3.4, "salt"),
        Word(3.4, 3.8, " &"),
        Word(3.8, 5.0, " pepper"),
    ), "the inline timings become words, entities decoded"


def test_manual_json3_event_keeps_its_two_lines() -> None:
    json3 = {
        "events": [
            {"tStartMs": 0, "dDurationMs": 5000, "id": 1, "wpWinPosId": 1},
            {"tStartMs": 1000, "dDurationMs": 2500, "segs": [{"utf8": "First line\nsecond"}]},
            {"tStartMs": 4000, "dDurationMs": 1000, "segs": [{"utf8": "Tom "}, {"utf8": "<3"}]},
            {"tStartMs": 5000, "dDurationMs": 1000, "segs": [{"utf8": "\n"}]},
        ]
    }

    assert parse_json3(json.dumps(json3), auto=False) == [
        Cue(1.0, 3.5, "First line\nsecond"),
        Cue(4.0, 5.0, "Tom <3"),
    ]


def test_json3_text_may_start_with_a_bom() -> None:
    json3 = '\ufeff{"events": [{"tStartMs": 0, "dDurationMs": 900, "segs": [{"utf8": "hi"}]}]}'

    assert parse_json3(json3, auto=True) == [Cue(0.0, 0.9, "hi", (Word(0.0, 0.9, "hi"),))]


def test_srt_track() -> None:
    srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i>\r\nthere\r\n\r\n"
    srt += "2\r\n01:00:00,000 --> 01:00:01,250\r\nlater\r\n"

    assert parse_srt(srt) == [Cue(1.0, 2.5, "Hello\nthere"), Cue(3600.0, 3601.25, "later")]


@pytest.mark.parametrize(
    ("extension", "content"),
    [
        ("vtt", "\ufeffWEBVTT\n\n00:00:01.000 --> 00:00:02.000\nwith a BOM\n"),
        ("srt", "\ufeff1\n00:00:01,000 --> 00:00:02,000\nwith a BOM\n"),
        (
            "json3",
            '\ufeff{"events": [{"tStartMs": 1000, "dDurationMs": 1000, "segs": '
            '[{"utf8": "with a BOM"}]}]}',
        ),
    ],
)
def test_track_files_by_extension(tmp_path: Path, extension: str, content: str) -> None:
    path = tmp_path / f"abc.en.{extension}"
    path.write_text(content, encoding="utf-8")

    assert parse_track(path, auto=False) == [Cue(1.0, 2.0, "with a BOM")]


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "abc.en.ttml"
    path.write_text("<tt/>", encoding="utf-8")

    with pytest.raises(UnsupportedCaptionFormat, match="ttml"):
        parse_track(path, auto=False)


@pytest.mark.parametrize("extension", ["vtt", "srt", "json3"])
def test_garbage_bytes_are_a_parse_error(tmp_path: Path, extension: str) -> None:
    path = tmp_path / f"abc.en.{extension}"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x80garbage")

    with pytest.raises(CaptionParseError):
        parse_track(path, auto=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"events": [{"tStartMs": 0, "segs', "not valid json3"),
        ("[]", "no list of events"),
        ('{"events": [7]}', "event 0 is not an object"),
        ('{"events": [{"tStartMs": "soon", "segs": [{"utf8": "x"}]}]}', "invalid tStartMs"),
        ('{"events": [{"tStartMs": -5, "segs": [{"utf8": "x"}]}]}', "negative tStartMs"),
        ('{"events": [{"tStartMs": 0, "segs": [{"utf8": 5}]}]}', "segment without text"),
    ],
)
def test_corrupt_json3_is_a_parse_error(text: str, message: str) -> None:
    for auto in (True, False):
        with pytest.raises(CaptionParseError, match=message):
            parse_json3(text, auto=auto)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("00:00:01.000 --> 00:00:02.000\nno header\n", "does not start with WEBVTT"),
        ("", "does not start with WEBVTT"),
        ("WEBVTT\n\n00:00:01.000 --> 00:00:61.000\nbad seconds\n", "1 of 1 WebVTT cues"),
        (_truncated("auto_rolling.en.vtt"), "1 of 8 WebVTT cues are malformed"),
    ],
)
def test_corrupt_vtt_is_a_parse_error(text: str, message: str) -> None:
    for auto in (True, False):
        with pytest.raises(CaptionParseError, match=message):
            parse_vtt(text, auto=auto)


@pytest.mark.parametrize(
    "text",
    ["just some words\nand more", "1\n00:00:01,000\nno arrow\n", "1\nsoon --> later\nx\n"],
)
def test_corrupt_srt_is_a_parse_error(text: str) -> None:
    with pytest.raises(CaptionParseError, match="malformed SubRip cue"):
        parse_srt(text)


def test_truncated_json3_fixture_is_a_parse_error() -> None:
    text = (CAPTIONS / "auto_rolling.en.json3").read_text(encoding="utf-8")

    with pytest.raises(CaptionParseError, match="json3"):
        parse_json3(text[: len(text) // 2], auto=True)
