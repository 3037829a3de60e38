"""Turn cues as YouTube delivers them into clean, monotonic cues: markup, rolling lines,
overlaps."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import pairwise

from app.transcripts.cues import Cue, Word

# Cue tags: <c>, <i>, <v Speaker>, <font color="...">, and the <00:00:01.000> word timings
# of auto-captions. A "<" not followed by a letter, "/" or a digit is text ("a < b", "<3").
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d{1,2}:\d{2}[\d:.]*>")
# SubStation Alpha, which some subtitle tools leave in SRT and WebVTT: override blocks such
# as {\an8} or {\i1}, the line break \N (or \n) and the hard space \h.
_SSA_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_SSA_LINE_BREAK = re.compile(r"\\[Nn]")
_SSA_HARD_SPACE = "\\h"
# Characters that take no room: zero-width spaces and joiners, the byte order mark, and
# the bidirectional marks some right-to-left tracks carry.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u200e\u200f]")
_WHITESPACE = re.compile(r"\s+")
# A sound label: [Music], [Applause], [Musik], [מוזיקה] — a short bracketed description.
SOUND_LABEL = re.compile(r"\[[^\[\]\n]{1,40}\]")
# A word, or a sound label as one piece even when it holds spaces ("[Music playing]").
_TOKEN = re.compile(r"\[[^\[\]\n]{1,40}\]|[^\s\[]+|\[")


def clean_text(text: str, *, markup: bool = True) -> str:
    """Collapse whitespace in each line and drop blank lines.

    SubStation Alpha escapes and overrides are converted or removed in every format. With
    `markup` (WebVTT, SRT, YouTube's XML) cue tags are removed and HTML entities decoded
    first; json3 text is plain, where a `<` or `&` is meant literally.
    """
    text = _SSA_LINE_BREAK.sub("\n", _SSA_OVERRIDE.sub("", text)).replace(_SSA_HARD_SPACE, " ")
    if markup:
        text = html.unescape(_TAG.sub("", text))
    text = _INVISIBLE.sub("", text)
    lines = (_WHITESPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def is_sound_label(text: str) -> bool:
    """Whether `text` is only a sound label such as "[Music]"."""
    return SOUND_LABEL.fullmatch(text.strip()) is not None


# A gap shorter than this between rolling cues is jitter (YouTube's 10 ms hand-over cues,
# rounding, a re-timed file), not a cleared screen.
ROLLING_GAP_MS = 1000
# An inline word timing in a WebVTT cue: <00:00:10.280>.
_INLINE_TIME = re.compile(r"<(\d{1,2}:)?(\d{1,2}):(\d{2})\.(\d{3})>")


def derolled(cues: Iterable[Cue]) -> list[Cue]:
    """Each line of rolling auto-captions once, from the cue that first shows it.

    A rolling cue shows the lines still on screen above the one being typed. A line starts
    when it first appears and ends when that cue ends, clipped to the next line's start.
    Leading lines already said (the last lines so far, or those up to the one before the
    last: a hand-over cue a little out of order) are not new. A gap of less than
    `ROLLING_GAP_MS` keeps the screen; a longer one clears it. The inline word timings of a
    new line become its words. Text keeps its markup; `normalized` removes it.
    """
    spoken: list[Cue] = []
    said: list[str] = []  # the last lines said, clean, while the screen is kept
    shown_until = 0
    for cue in sorted(cues, key=lambda cue: cue.start_ms):
        if cue.start_ms - shown_until >= ROLLING_GAP_MS:
            said = []  # a pause empties the screen
        shown_until = max(shown_until, cue.end_ms)
        lines = [line for line in cue.lines if clean_text(line)]
        if not lines:
            # A blank cue is YouTube's spacer; treating it as a cleared screen would
            # repeat the line that is still shown above the next one.
            continue
        shown = [clean_text(line) for line in lines]
        old = _already_said(said, shown)
        new_lines = lines[old:]
        if new_lines:
            words = tuple(
                word for line in new_lines for word in inline_words(line, cue.start, cue.end)
            )
            spoken.append(Cue(cue.start, cue.end, "\n".join(new_lines), words))
        said = [*said, *shown[old:]][-_SCREEN_MEMORY:]
    return _clipped(spoken)


# Lines remembered for `_already_said`: a screen of two, and one more for a late hand-over.
_SCREEN_MEMORY = 4


def _already_said(said: Sequence[str], shown: Sequence[str]) -> int:
    """How many leading lines of `shown` were said last: they equal the lines of `said`
    that end with its last line, or with the one before it."""
    for count in range(min(len(said), len(shown)), 0, -1):
        for end in (len(said), len(said) - 1):
            if count <= end and list(shown[:count]) == list(said[end - count : end]):
                return count
    return 0


def inline_words(line: str, start: float, end: float) -> list[Word]:
    """The words of a WebVTT cue line that carries inline timings, else none.

    Text before the first timing starts at `start`; each timing starts the text after it.
    A stretch holding several words is shared among them by their length.
    """
    pieces = _INLINE_TIME.split(line)
    if len(pieces) == 1:
        return []
    stretches: list[tuple[float, str]] = [(start, pieces[0])]
    for index in range(1, len(pieces), 5):
        hours, minutes, seconds, millis = pieces[index : index + 4]
        whole = int(hours.rstrip(":") if hours else 0) * 3600 + int(minutes) * 60 + int(seconds)
        stretches.append((whole + int(millis) / 1000, pieces[index + 4]))
    words: list[Word] = []
    for (at, raw), following in zip(stretches, [*stretches[1:], (end, "")], strict=True):
        words.extend(spread_words(raw, max(at, start), min(max(following[0], at), end)))
    return words


def spread_words(raw: str, start: float, end: float, *, markup: bool = True) -> list[Word]:
    """The words of `raw` shown from `start` to `end`, each given a share of the time by
    its length; each keeps the space before it. `markup` as for `clean_text`."""
    text = clean_text(raw.replace("\n", " "), markup=markup)
    if not text:
        return []
    leading = " " if (_TAG.sub("", raw) if markup else raw)[:1].isspace() else ""
    tokens = _TOKEN.findall(text)
    total = sum(len(token) for token in tokens) or 1
    words: list[Word] = []
    at = start
    for index, token in enumerate(tokens):
        until = end if index == len(tokens) - 1 else at + (end - start) * len(token) / total
        words.append(Word(at, until, (leading if index == 0 else " ") + token))
        at = until
    return words


def ended(cue: Cue, end: float) -> Cue:
    """`cue` ending at `end`, its words clipped to it."""
    words = tuple(replace(word, end=min(word.end, end)) for word in cue.words if word.start < end)
    return replace(cue, end=end, words=words)


def _clipped(cues: Sequence[Cue]) -> list[Cue]:
    clipped = [
        ended(cue, min(cue.end, following.start)) if following.start > cue.start else cue
        for cue, following in pairwise(cues)
    ]
    return [*clipped, *cues[-1:]]


def normalized(cues: Iterable[Cue], *, markup: bool = True) -> list[Cue]:
    """Clean text and make timings monotonic, for every track.

    Tags, entities and extra whitespace go (see `clean_text`); empty and zero-length cues
    are dropped; cues are sorted by start and put on the millisecond grid; cues starting
    together are combined; an end overlapping the next start is clipped to it; touching
    cues with the same text are merged. Other cue boundaries and line breaks are kept.
    Apply it once, to text as found in caption files.
    """
    cleaned = (_on_ms_grid(cue, markup=markup) for cue in cues)
    visible = sorted(
        (cue for cue in cleaned if cue.text and cue.end_ms > cue.start_ms),
        key=lambda cue: (cue.start_ms, cue.end_ms),
    )
    return _without_overlaps(_combined_by_start(visible))


def _on_ms_grid(cue: Cue, *, markup: bool) -> Cue:
    words = (
        Word(
            max(round(word.start * 1000), 0) / 1000,
            round(word.end * 1000) / 1000,
            (" " if word.text[:1].isspace() else "") + text,
        )
        for word in cue.words
        if (text := clean_text(word.text.replace("\n", " "), markup=markup))
    )
    return Cue(
        max(cue.start_ms, 0) / 1000,
        cue.end_ms / 1000,
        clean_text(cue.text, markup=markup),
        tuple(words),
    )


def _combined_by_start(cues: Iterable[Cue]) -> list[Cue]:
    # Simultaneous cues (two speakers, a sound label) would otherwise be clipped to
    # nothing; one cue holding both keeps their text.
    combined: list[Cue] = []
    for cue in cues:
        if combined and combined[-1].start_ms == cue.start_ms:
            earlier = combined[-1]
            lines = [*earlier.lines, *(line for line in cue.lines if line not in earlier.lines)]
            words = tuple(sorted((*earlier.words, *cue.words), key=lambda word: word.start))
            combined[-1] = Cue(earlier.start, max(earlier.end, cue.end), "\n".join(lines), words)
        else:
            combined.append(cue)
    return combined


def _without_overlaps(cues: Iterable[Cue]) -> list[Cue]:
    """Merge repeats and clip overlaps; starts must already be strictly increasing.

    The same text again in a cue that touches or overlaps the last is that cue shown
    twice; after a gap, however short, it is said again ("17 17", a chorus)."""
    timeline: list[Cue] = []
    for cue in cues:
        last = timeline[-1] if timeline else None
        if last is not None and last.text == cue.text and cue.start_ms <= last.end_ms:
            timeline[-1] = replace(last, end=max(last.end, cue.end))
        elif last is not None and last.end_ms > cue.start_ms:
            timeline[-1:] = [ended(last, cue.start), cue]
        else:
            timeline.append(cue)
    return timeline
