"""Turn cues as YouTube delivers them into clean, monotonic cues and readable prose."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from itertools import pairwise

from app.transcripts.cues import Cue

# Cue tags: <c>, <i>, <v Speaker>, and the <00:00:01.000> word timings of auto-captions.
_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str, *, markup: bool = True) -> str:
    """Collapse whitespace in each line and drop blank lines.

    With `markup` (WebVTT, SRT) cue tags are removed and HTML entities decoded first; json3
    text is plain, where a `<` or `&` is meant literally.
    """
    if markup:
        text = html.unescape(_TAG.sub("", text))
    lines = (_WHITESPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def derolled(cues: Iterable[Cue]) -> list[Cue]:
    """Each line of rolling auto-captions once, from the cue that first shows it.

    A rolling cue shows the lines still on screen above the one being typed. A line starts
    when it first appears and ends when that cue ends, clipped to the next line's start.
    Text keeps its markup; `normalized` removes it.
    """
    spoken: list[Cue] = []
    on_screen: list[str] = []
    shown_until = 0
    for cue in sorted(cues, key=lambda cue: cue.start_ms):
        if cue.start_ms > shown_until:
            on_screen = []  # a pause empties the screen
        shown_until = max(shown_until, cue.end_ms)
        lines = [line for line in cue.lines if clean_text(line)]
        if not lines:
            # A blank cue is YouTube's spacer; treating it as a cleared screen would
            # repeat the line that is still shown above the next one.
            continue
        shown = [clean_text(line) for line in lines]
        new_lines = lines[_scrolled_up(on_screen, shown) :]
        if new_lines:
            spoken.append(Cue(cue.start, cue.end, "\n".join(new_lines)))
        on_screen = shown
    return _clipped(spoken)


def _scrolled_up(previous: Sequence[str], current: Sequence[str]) -> int:
    """How many leading lines of `current` are the last lines of `previous`, scrolled up."""
    for count in range(min(len(previous), len(current)), 0, -1):
        if list(current[:count]) == list(previous[-count:]):
            return count
    return 0


def _clipped(cues: Sequence[Cue]) -> list[Cue]:
    clipped = [
        replace(cue, end=min(cue.end, following.start)) if following.start > cue.start else cue
        for cue, following in pairwise(cues)
    ]
    return [*clipped, *cues[-1:]]


def normalized(cues: Iterable[Cue], *, markup: bool = True) -> list[Cue]:
    """Clean text and make timings monotonic, for every track.

    Tags, entities and extra whitespace go (see `clean_text`); empty and zero-length cues
    are dropped; cues are sorted by start and put on the millisecond grid; cues starting
    together are combined; an end overlapping the next start is clipped to it; consecutive
    cues with the same text are merged. Other cue boundaries and line breaks are kept.
    Apply it once, to text as found in caption files.
    """
    cleaned = (_on_ms_grid(cue, clean_text(cue.text, markup=markup)) for cue in cues)
    visible = sorted(
        (cue for cue in cleaned if cue.text and cue.end_ms > cue.start_ms),
        key=lambda cue: (cue.start_ms, cue.end_ms),
    )
    return _without_overlaps(_combined_by_start(visible))


def _on_ms_grid(cue: Cue, text: str) -> Cue:
    return Cue(max(cue.start_ms, 0) / 1000, cue.end_ms / 1000, text)


def _combined_by_start(cues: Iterable[Cue]) -> list[Cue]:
    # Simultaneous cues (two speakers, a sound label) would otherwise be clipped to
    # nothing; one cue holding both keeps their text.
    combined: list[Cue] = []
    for cue in cues:
        if combined and combined[-1].start_ms == cue.start_ms:
            earlier = combined[-1]
            lines = [*earlier.lines, *(line for line in cue.lines if line not in earlier.lines)]
            combined[-1] = Cue(earlier.start, max(earlier.end, cue.end), "\n".join(lines))
        else:
            combined.append(cue)
    return combined


# The same text again within this gap is one cue shown twice, not something said twice.
_REPEAT_GAP_MS = 1000


def _without_overlaps(cues: Iterable[Cue]) -> list[Cue]:
    """Merge repeats and clip overlaps; starts must already be strictly increasing."""
    timeline: list[Cue] = []
    for cue in cues:
        last = timeline[-1] if timeline else None
        if (
            last is not None
            and last.text == cue.text
            and cue.start_ms - last.end_ms < _REPEAT_GAP_MS
        ):
            timeline[-1] = replace(last, end=max(last.end, cue.end))
        elif last is not None and last.end_ms > cue.start_ms:
            timeline[-1:] = [replace(last, end=cue.start), cue]
        else:
            timeline.append(cue)
    return timeline


def paragraphs(cues: Iterable[Cue], pause: float = 1.0) -> list[str]:
    """The text as prose: a paragraph per pause of at least `pause` seconds.

    Lines within a paragraph are joined with single spaces, and a line equal to the one
    before it is left out.
    """
    pause_ms = round(pause * 1000)
    texts: list[list[str]] = []
    previous_line: str | None = None
    spoken_until: int | None = None
    for cue in cues:
        if spoken_until is None or cue.start_ms - spoken_until >= pause_ms:
            texts.append([])
        for line in filter(None, (line.strip() for line in cue.lines)):
            if line != previous_line:
                texts[-1].append(line)
            previous_line = line
        spoken_until = max(spoken_until or 0, cue.end_ms)
    return [" ".join(lines) for lines in texts if lines]
