"""Every transcript format of every real caption file (tests/fixtures/captions/real, sources in
its SOURCES.md): what a reader or a program finds in the files we write."""

from __future__ import annotations

import html
import json
import random
import re
import xml.etree.ElementTree as ElementTree
from itertools import pairwise
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pysrt
import pytest
import webvtt

from app.transcripts.cleaning import clean_text, derolled, is_sound_label, normalized
from app.transcripts.conversion import TrackStyle, write_track
from app.transcripts.cues import Cue
from app.transcripts.layout import DEFAULT_LIMITS, laid_out
from app.transcripts.parsing import CaptionParseError, parse_json3, parse_track, vtt_cues
from app.transcripts.planning import CaptionSource
from app.transcripts.schemas import SubtitleFormat
from app.transcripts.words import is_unspaced
from app.transcripts.writers import link_base, to_chunks, to_txt

REAL = Path(__file__).parents[1] / "fixtures" / "captions" / "real"
VIDEO_ID = "dQw4w9WgXcQ"

# Where each file came from (see SOURCES.md): a person's captions, YouTube's speech
# recognition, or YouTube's machine translation.
SOURCES = {
    "rolling_auto_asr.he.vtt": CaptionSource.AUTO,
    "rolling_auto_asr.he.json3": CaptionSource.AUTO,
    "rolling_old_style.en.vtt": CaptionSource.AUTO,
    "godot_tutorial_asr.en.srv1": CaptionSource.AUTO,
    "crashcourse_manual.en.vtt": CaptionSource.MANUAL,
    "solid_manual.en.srt": CaptionSource.MANUAL,
    "rwby_manual.en.srv3": CaptionSource.MANUAL,
    "crashcourse_linguistics.en.srv1": CaptionSource.MANUAL,
    "crashcourse_linguistics_translated.zh-Hans.json3": CaptionSource.TRANSLATED,
    "screencast_auto_asr.ru.json3": CaptionSource.AUTO,
    "street_interview_auto_asr.de.json3": CaptionSource.AUTO,
    "vtuber_clip_auto_asr.ja.json3": CaptionSource.AUTO,
    "penguin_report_rolling_asr.en.vtt": CaptionSource.AUTO,
    "economy_news_rolling_asr.ko.vtt": CaptionSource.AUTO,
    "mkbhd_intro_excerpt_asr.en.srv3": CaptionSource.AUTO,
    "himehina_styled_manual.en.srv3": CaptionSource.MANUAL,
    "rick_manual.en.srv3": CaptionSource.MANUAL,
    "rick_manual.en.srv1": CaptionSource.MANUAL,
    "lyrics_manual.ja.vtt": CaptionSource.MANUAL,
    "economy_news_manual.ko.vtt": CaptionSource.MANUAL,
    "gold_price_manual.ko.vtt": CaptionSource.MANUAL,
}
# The words of the old-style rolling file as a person reads them on screen (its SOURCES.md
# entry): its typed lines carry no inline timing to pick them out by.
OLD_STYLE_WORDS = ["yeah", "what", "this", "will", "happen", "is", "I'm", "telling"]

# Markup that must never reach a reader: tags, entities, SubStation Alpha escapes.
LEFTOVER = re.compile(r"</?[A-Za-z][^<>]*>|<\d{1,2}:\d{2}|&(?:[A-Za-z]+|#\d+);|\\[hNn]|\{\\")
_TAGS = re.compile(r"</?[A-Za-z][^<>]*>|<\d{1,2}:\d{2}[\d:.]*>")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u200e\u200f]")
_MD_LINK = re.compile(r"^\[[\d:]+\]\(https://youtu\.be/\w+\?t=\d+\) ", re.MULTILINE)


def real_files() -> list[str]:
    return sorted(path.name for path in REAL.iterdir() if path.name != "SOURCES.md")


def test_every_real_file_is_classified() -> None:
    assert set(real_files()) == set(SOURCES), "add new fixtures to SOURCES above"


def _words(text: str) -> list[str]:
    text = _INVISIBLE.sub("", html.unescape(_TAGS.sub("", text))).replace("][", "] [")
    text = re.sub(r"\{\\[^{}]*\}", "", text)
    return re.sub(r"\\[hNn]", " ", text).split()


def source_words(name: str) -> list[str]:
    """The file's words, read simply and independently of the parser under test."""
    path = REAL / name
    text = path.read_text(encoding="utf-8-sig")
    if name == "rolling_old_style.en.vtt":
        return OLD_STYLE_WORDS
    if "rolling" in name and path.suffix == ".vtt":
        # Current rolling VTT: a cue types its last line; hand-over cues (10 ms) and
        # blank spacers type nothing.
        typed = [
            caption.raw_text.split("\n")[-1]
            for caption in webvtt.from_string(text).captions
            if caption.end_time.in_milliseconds() - caption.start_time.in_milliseconds() > 20
        ]
        return _words(" ".join(typed))
    if path.suffix == ".json3":
        events = sorted(
            (event for event in json.loads(text)["events"] if "segs" in event),
            key=lambda event: event["tStartMs"],
        )
        said = " ".join("".join(seg.get("utf8", "") for seg in event["segs"]) for event in events)
        return said.replace("][", "] [").split()
    if path.suffix == ".srv3":
        return _srv3_words(text)
    if path.suffix in (".srv1", ".srv2"):
        root = ElementTree.fromstring(text)  # noqa: S314 (a fixture of ours)
        return _words(" ".join(html.unescape("".join(t.itertext())) for t in root.iter("text")))
    if path.suffix == ".srt":
        return _words(" ".join(item.text for item in pysrt.from_string(text)))
    return _words(" ".join(caption.raw_text for caption in webvtt.from_string(text).captions))


def without_repeated_sentences(words: list[str]) -> list[str]:
    """`words` without a sentence of three words or more said again right after itself:
    what the prose formats promise ("no repeated sentence")."""
    sentences = re.findall(r".*?(?:[.?!]+[\"'\u201d\u2019)\]]*(?=\s|$)|$)\s*", " ".join(words))
    kept: list[str] = []
    previous = ""
    for sentence in (s.strip() for s in sentences):
        if not sentence:
            continue
        if sentence.casefold() != previous or len(sentence.split()) < 3:
            kept.append(sentence)
        previous = sentence.casefold()
    return " ".join(kept).split()


def _srv3_words(text: str) -> list[str]:
    """The words of an srv3 track as it reads on screen: paragraphs in time order; the same
    text shown at once in two places, or faded out as a run of short paragraphs in one
    place, read once."""
    root = ElementTree.fromstring(text)  # noqa: S314 (a fixture of ours)
    shown: list[tuple[int, int, str, str]] = []  # start, end, place (wp), text
    timed = ((int(p.get("t", 0)), int(p.get("d", 0)), p) for p in root.iter("p"))
    for start, duration, p in sorted(timed, key=lambda item: (item[0], item[0] + item[1])):
        end = start + duration
        place, said = p.get("wp", ""), "".join(p.itertext())
        if any(s <= start < e and t == said and w != place for s, e, w, t in shown):
            continue  # the same text in another place at once
        fading = [
            i for i, (_, e, w, t) in enumerate(shown) if w == place and t == said and e == start
        ]
        if fading:
            shown[fading[-1]] = (shown[fading[-1]][0], end, place, said)
            continue
        shown.append((start, end, place, said))
    return _words(" ".join(said for *_, said in shown))


def _same_words(found: list[str], expected: list[str], name: str) -> None:
    if any(is_unspaced(char) for word in expected for char in word):
        # Unspaced scripts: lines and paragraphs may join or split a run of characters.
        assert "".join(found) == "".join(expected), name
    else:
        assert found == expected, name


@pytest.fixture(scope="module", params=sorted(SOURCES))
def written(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Written:
    return Written(request.param, tmp_path_factory.mktemp("real"))


class Written:
    """Every format of one real file, written as a job writes them."""

    def __init__(self, name: str, out_dir: Path) -> None:
        self.name = name
        self.source = SOURCES[name]
        language = name.split(".")[-2]
        self.cues = write_track(
            parse_track(REAL / name, auto=self.source is not CaptionSource.MANUAL),
            language=language,
            source=self.source,
            out_dir=out_dir,
            video_id=VIDEO_ID,
            style=TrackStyle(formats=list(SubtitleFormat), title="A <b>title</b> & more"),
        )
        self.files: dict[str, str] = {
            fmt.value: (out_dir / f"{VIDEO_ID}.{language}.{fmt}").read_text(encoding="utf-8")
            for fmt in SubtitleFormat
        }


def test_srt_and_vtt_parse_and_hold_clean_monotonic_cues(written: Written) -> None:
    srt = pysrt.from_string(written.files["srt"], error_handling=pysrt.ERROR_RAISE)
    vtt = webvtt.from_string(written.files["vtt"]).captions
    assert len(srt) == len(vtt) == len(written.cues) > 0

    timings = [(item.start.ordinal, item.end.ordinal) for item in srt]
    assert timings == [
        (caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds())
        for caption in vtt
    ]
    assert all(start < end for start, end in timings), "no empty or backwards cue"
    assert all(a[1] <= b[0] for a, b in pairwise(timings)), "monotonic, no overlap"
    texts = [item.text for item in srt]
    assert texts == [html.unescape(caption.text) for caption in vtt]
    assert all(text.strip() for text in texts), "no empty cue"
    assert not [text for text in texts if LEFTOVER.search(text)], "no leftover markup"
    # Two sound labels in a row are two events of the source (the Hebrew track has
    # "[music]" ending a line, then a "[music]" line): only spoken lines count.
    repeated = [
        a.text
        for a, b in pairwise(srt)
        if a.text.split("\n")[-1] == b.text.split("\n")[0]
        and not is_sound_label(a.text)
        and b.start.ordinal - a.end.ordinal < 1000
    ]
    if written.source is not CaptionSource.MANUAL:  # a person's repeats are theirs (a chorus)
        assert not repeated, "no line shown again at once (a rolling line kept twice)"


def test_every_format_has_the_source_words(written: Written) -> None:
    expected = source_words(written.name)
    files = written.files

    prose = without_repeated_sentences(expected)
    _same_words(files["txt"].split(), prose, "txt")
    srt = pysrt.from_string(files["srt"])
    _same_words(" ".join(item.text for item in srt).split(), expected, "srt")
    vtt = webvtt.from_string(files["vtt"]).captions
    _same_words(" ".join(html.unescape(c.text) for c in vtt).split(), expected, "vtt")
    cues = json.loads(files["json"])
    _same_words(" ".join(cue["text"] for cue in cues).split(), expected, "json")
    markdown = _MD_LINK.sub("", files["md"].split("\n", 2)[2])
    _same_words(re.sub(r"\\(.)", r"\1", markdown).split(), prose, "md")
    chunks = to_chunks(written.cues, link_base(VIDEO_ID, ""), max_seconds=45)
    _same_words(" ".join(chunk["text"] for chunk in chunks).split(), expected, "chunks")


def test_json_words_spell_their_cue_and_follow_each_other(written: Written) -> None:
    cues = json.loads(written.files["json"])
    for cue in cues:
        words = cue.get("words")
        if words is None:
            continue
        spelled = "".join(word["text"] for word in words)
        assert spelled == "".join(cue["text"].split()), "the words spell the cue"
        assert all(cue["start"] <= w["start"] <= w["end"] <= cue["end"] for w in words)
        assert all(a["start"] <= b["start"] for a, b in pairwise(words))
    if written.source is CaptionSource.AUTO:
        assert any("words" in cue for cue in cues), "speech recognition has word timings"


def test_cue_layout_follows_the_source(written: Written) -> None:
    limits = DEFAULT_LIMITS
    cues = written.cues
    assert all(len(line) <= limits.max_line_chars for cue in cues for line in cue.lines)
    if written.source is CaptionSource.AUTO:
        durations = [cue.end_ms - cue.start_ms for cue in cues]
        assert min(durations) >= limits.min_seconds * 1000 - 1, "no flashes"
        assert max(durations) <= limits.max_seconds * 1000 + 1, "no 14 s cues"
        assert max(len(cue.lines) for cue in cues) <= limits.max_lines
    else:
        source = parse_track(REAL / written.name, auto=written.source is not CaptionSource.MANUAL)
        assert [(c.start_ms, c.end_ms) for c in cues] == [(c.start_ms, c.end_ms) for c in source]


def test_txt_reads_as_paragraphs(written: Written) -> None:
    paragraphs = written.files["txt"].rstrip("\n").split("\n\n")
    words = len(written.files["txt"].split())
    unspaced = any(is_unspaced(char) for char in written.files["txt"])
    if words > 150 and not unspaced:
        assert len(paragraphs) >= 2, "never one paragraph for the whole video"
        assert max(len(p.split()) for p in paragraphs) <= 125, "no wall of text"
    if len(written.cues) > 6:
        assert len(paragraphs) <= len(written.cues) / 2, "never a paragraph per cue"
    sentences = [s for p in paragraphs for s in re.split(r"(?<=[.?!])\s+", p)]
    assert not [a for a, b in pairwise(sentences) if a == b and len(a.split()) > 2]
    assert not LEFTOVER.search(written.files["txt"])


def test_markdown_links_each_paragraph_to_its_moment(written: Written) -> None:
    markdown = written.files["md"]
    assert markdown.startswith("# A \\<b\\>title\\</b\\> & more\n\n"), "the title is escaped"
    paragraphs = markdown.rstrip("\n").split("\n\n")[1:]
    assert paragraphs and all(_MD_LINK.match(p + " ") or _MD_LINK.match(p) for p in paragraphs)
    seconds = [int(re.search(r"\?t=(\d+)", p).group(1)) for p in paragraphs]  # type: ignore[union-attr]
    assert seconds == sorted(seconds)
    assert seconds[0] == int(written.cues[0].start)


@pytest.mark.parametrize("max_words", [40, 150])
def test_chunks_stay_within_their_size(max_words: int) -> None:
    cues = parse_track(REAL / "godot_tutorial_asr.en.srv1", auto=True)
    chunks = to_chunks(cues, link_base(VIDEO_ID, ""), max_words=max_words)

    assert all(len(chunk["text"].split()) <= max_words for chunk in chunks)
    assert all(a["end"] <= b["start"] for a, b in pairwise(chunks))
    assert chunks[1]["url"] == f"https://youtu.be/{VIDEO_ID}?t={int(chunks[1]['start'])}"


def test_chunks_by_time() -> None:
    cues = parse_track(REAL / "solid_manual.en.srt", auto=False)
    chunks = to_chunks(cues, link_base(VIDEO_ID, ""), max_seconds=30)

    assert all(chunk["end"] - chunk["start"] <= 30 for chunk in chunks)
    assert len(chunks) >= (cues[-1].end - cues[0].start) / 30
    ended = sum(chunk["text"].endswith((".", "?", "!")) for chunk in chunks)
    assert ended >= len(chunks) * 0.6, "cut where sentences end"


# -- the defects the issue found, each on a real file ----------------------------------------


def _spoken(cues: list[Cue]) -> list[str]:
    return " ".join(cue.text for cue in cues).split()


def _jittered(cues: list[Cue], seed: int, *, most: float = 0.04) -> list[Cue]:
    """`cues` with every boundary moved by up to `most` seconds either way, as a re-timed or
    re-encoded file has them: small gaps and overlaps between rolling cues."""
    rng = random.Random(seed)
    moved = []
    for cue in cues:
        start = max(cue.start + rng.uniform(-most, most), 0.0)
        end = max(cue.end + rng.uniform(-most, most), start + 0.001)
        moved.append(Cue(start, end, cue.text))
    return moved


@pytest.mark.parametrize("name", ["rolling_auto_asr.he.vtt", "rolling_old_style.en.vtt"])
@pytest.mark.parametrize("seed", range(5))
def test_rolling_vtt_with_jitter_gives_the_same_words(name: str, seed: int) -> None:
    raw = vtt_cues((REAL / name).read_text(encoding="utf-8"))
    exact = normalized(derolled(raw))

    shaken = normalized(derolled(_jittered(raw, seed)))

    assert _spoken(shaken) == _spoken(exact)


def test_a_10_ms_gap_between_rolling_cues_repeats_no_line() -> None:
    raw = vtt_cues((REAL / "rolling_auto_asr.he.vtt").read_text(encoding="utf-8"))
    gapped = [Cue(cue.start + 0.01, cue.end, cue.text) for cue in raw]

    lines = normalized(derolled(gapped))

    assert _spoken(lines) == source_words("rolling_auto_asr.he.vtt")


@pytest.mark.parametrize("seed", range(3))
def test_json3_with_jitter_gives_the_same_words(seed: int) -> None:
    document = json.loads((REAL / "rolling_auto_asr.he.json3").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    for event in document["events"]:
        event["tStartMs"] = max(event["tStartMs"] + rng.randint(-40, 40), 0)

    assert _spoken(parse_json3(json.dumps(document), auto=True)) == source_words(
        "rolling_auto_asr.he.json3"
    )


def _as_srv3(json3: str) -> str:
    """A json3 track in YouTube's srv3 layout: a `<p>` per event, an `<s>` per segment."""
    paragraphs = []
    for event in json.loads(json3)["events"]:
        if "segs" not in event:
            continue
        attributes = f't="{event["tStartMs"]}" d="{event.get("dDurationMs", 0)}" w="1"'
        if event.get("aAppend"):
            paragraphs.append(f'<p {attributes} a="1">\n</p>')
            continue
        spans = "".join(
            (f'<s t="{seg["tOffsetMs"]}" ac="0">' if "tOffsetMs" in seg else '<s ac="0">')
            + xml_escape(seg["utf8"])
            + "</s>"
            for seg in event["segs"]
        )
        paragraphs.append(f"<p {attributes}>{spans}</p>")
    body = "\n".join(paragraphs)
    head = '<?xml version="1.0" encoding="utf-8" ?><timedtext format="3">'
    return f"{head}\n<body>\n{body}\n</body>\n</timedtext>\n"


def _as_srv2(srv1: str) -> str:
    """An srv1 track in srv2's layout: milliseconds, the text escaped as srv1 escapes it."""
    root = ElementTree.fromstring(srv1)  # noqa: S314 (a fixture of ours)
    texts = "".join(
        f'<text t="{round(float(t.get("start", 0)) * 1000)}" '
        f'd="{round(float(t.get("dur", 0)) * 1000)}">{xml_escape(t.text or "")}</text>'
        for t in root.iter("text")
    )
    return f'<?xml version="1.0" encoding="utf-8" ?><timedtext>{texts}</timedtext>'


def test_srv3_json3_and_vtt_of_one_track_give_identical_words(tmp_path: Path) -> None:
    json3 = (REAL / "rolling_auto_asr.he.json3").read_text(encoding="utf-8")
    srv3 = tmp_path / "track.iw.srv3"
    srv3.write_text(_as_srv3(json3), encoding="utf-8")

    from_json3 = parse_track(REAL / "rolling_auto_asr.he.json3", auto=True)
    from_srv3 = parse_track(srv3, auto=True)
    from_vtt = parse_track(REAL / "rolling_auto_asr.he.vtt", auto=True)

    assert _spoken(from_srv3) == _spoken(from_json3) == _spoken(from_vtt)
    assert [c.words for c in from_srv3] == [c.words for c in from_json3], "word timings too"


def test_srv2_and_srv1_of_one_track_give_identical_cues(tmp_path: Path) -> None:
    srv1 = (REAL / "godot_tutorial_asr.en.srv1").read_text(encoding="utf-8")
    srv2 = tmp_path / "track.en.srv2"
    srv2.write_text(_as_srv2(srv1), encoding="utf-8")

    assert parse_track(srv2, auto=True) == parse_track(
        REAL / "godot_tutorial_asr.en.srv1", auto=True
    )


def test_youtube_xml_entities_are_decoded_once_more() -> None:
    cues = parse_track(REAL / "crashcourse_linguistics.en.srv1", auto=False)

    assert cues[0].text == "Hi, I'm Taylor and welcome to Crash Course Linguistics!"
    assert not [cue.text for cue in cues if LEFTOVER.search(cue.text)]


def test_caption_xml_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.en.srv3"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">]>'
        '<timedtext format="3"><body><p t="0" d="1000">&a;</p></body></timedtext>',
        encoding="utf-8",
    )

    with pytest.raises(CaptionParseError, match="DOCTYPE"):
        parse_track(bomb, auto=False)


def test_the_wall_of_text_is_gone() -> None:
    """Rolling auto-captions never pause for a second: they used to become one paragraph."""
    cues = laid_out(parse_track(REAL / "godot_tutorial_asr.en.srv1", auto=True), retime=True)
    paragraphs = to_txt(cues).rstrip("\n").split("\n\n")

    assert len(paragraphs) >= 15
    assert all(20 <= len(paragraph.split()) <= 125 for paragraph in paragraphs[:-1])


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("{\\an8}Top line\\Nsecond line", "Top line\nsecond line"),
        ("it\\hcosts\\h5\\h€", "it costs 5 €"),
        ('<font color="#ffff00">Yellow</font> text', "Yellow text"),
        ("{\\i1}slanted{\\i0} and {\\c&H00FFFF&}coloured", "slanted and coloured"),
        ("a\u200b\u200ezero-width", "azero-width"),
    ],
)
def test_substation_escapes_and_font_tags(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_sound_labels_are_cues_of_their_own_and_can_leave_the_prose() -> None:
    track = laid_out(
        parse_track(REAL / "street_interview_auto_asr.de.json3", auto=True), retime=True
    )
    labelled = [cue.text for cue in track if "[" in cue.text]

    assert labelled and all(is_sound_label(text) for text in labelled), "a label is a cue alone"
    assert "[gelächter]" in to_txt(track)
    plain = to_txt(track, drop_sound_labels=True)
    assert not re.search(r"\[[^\]]*\]", plain)
    assert plain.split() == [word for word in to_txt(track).split() if not is_sound_label(word)]
