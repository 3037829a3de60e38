"""Lay clean cues out for reading: re-timed from word timings, lines wrapped.

Speech-recognition captions arrive as YouTube's rolling lines: cues of 10 ms or of 14 s,
cut wherever the screen filled up. They are rebuilt from their words into cues that last
between `min_seconds` and `max_seconds` and hold at most `max_lines` lines of
`max_line_chars` characters, broken where a phrase ends. A person's captions keep their
cue boundaries; only their overlong lines are wrapped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from app.core.config import Settings
from app.transcripts.cues import Cue, Word
from app.transcripts.planning import CaptionSource
from app.transcripts.words import (
    CLAUSE_END,
    SENTENCE_END,
    UNSPACED,
    flat,
    is_label,
    joined,
    starts_speaker,
    words_of,
)

# Sources whose cue boundaries come from speech recognition, not from a person.
RETIMED_SOURCES = frozenset({CaptionSource.AUTO, CaptionSource.ASR})
# Silence this long ends a cue: the text should not stay up while nothing is said.
PAUSE_SECONDS = 1.0
# Words a new phrase often starts with: a break before them reads well.
_PHRASE_STARTS = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "that",
        "which",
        "who",
        "when",
        "while",
        "if",
        "then",
        "although",
        "though",
        "und",
        "aber",
        "oder",
        "weil",
        "dass",
        "wenn",
        "et",
        "mais",
        "ou",
        "donc",
        "parce",
        "que",
        "y",
        "pero",
        "porque",
    ]
)
# A piece of a line: a spaced word (with the space before it) or one unspaced character.
_PIECE = re.compile(f" ?[{UNSPACED}]| ?[^ {UNSPACED}]+")


@dataclass(frozen=True, slots=True)
class CueLimits:
    """How long a cue shows and how much text it holds (settings TRANSCRIPT_CUE_*)."""

    max_seconds: float = 7.0
    min_seconds: float = 0.7
    max_line_chars: int = 42
    max_lines: int = 2


DEFAULT_LIMITS = CueLimits()


def cue_limits(settings: Settings) -> CueLimits:
    """The limits the settings ask for."""
    return CueLimits(
        max_seconds=settings.transcript_max_cue_seconds,
        min_seconds=settings.transcript_min_cue_seconds,
        max_line_chars=settings.transcript_max_line_chars,
        max_lines=settings.transcript_max_lines,
    )


def laid_out(cues: Sequence[Cue], *, retime: bool, limits: CueLimits = DEFAULT_LIMITS) -> list[Cue]:
    """`cues` ready to write: re-timed from their words when `retime`, lines wrapped."""
    if retime:
        return retimed(cues, limits)
    return [_rewrapped(cue, limits) for cue in cues]


def _rewrapped(cue: Cue, limits: CueLimits) -> Cue:
    """`cue` as its author broke it when every line fits, else its text wrapped anew."""
    width = limits.max_line_chars
    if all(len(line) <= width for line in cue.lines):
        return cue
    text = flat(cue.text)
    return replace(cue, text="\n".join(balanced(text, width, len(wrap(text, width)))))


def retimed(cues: Sequence[Cue], limits: CueLimits = DEFAULT_LIMITS) -> list[Cue]:
    """Cues rebuilt from the words of `cues` (see the module's docstring)."""
    groups: list[list[Word]] = []
    group: list[Word] = []
    for word in words_of(cues):
        if group and _must_break(group[-1], word):
            groups.append(group)
            group = []
        while group and not _fits([*group, word], limits):
            cut = _best_break([*group, word], limits)
            groups.append(group[:cut])
            group = group[cut:]
        group.append(word)
    if group:
        groups.append(group)
    return _held_long_enough([_cue_of(words, limits) for words in groups], limits)


def _must_break(previous: Word, word: Word) -> bool:
    return (
        is_label(previous)
        or is_label(word)
        or starts_speaker(word)
        or word.start - previous.end >= PAUSE_SECONDS
    )


def _fits(words: Sequence[Word], limits: CueLimits) -> bool:
    if words[-1].end - words[0].start > limits.max_seconds and len(words) > 1:
        return False
    return len(wrap(joined(words), limits.max_line_chars)) <= limits.max_lines


def _best_break(words: Sequence[Word], limits: CueLimits) -> int:
    """Where to end the cue holding `words[:cut]` (the last word did not fit)."""
    best, best_score = len(words) - 1, -math.inf
    for cut in range(1, len(words)):
        before, after = words[cut - 1], words[cut]
        if after.start - words[0].start < limits.min_seconds and cut < len(words) - 1:
            continue  # too short to read, unless nothing else fits
        said = before.text.strip()
        score = cut / len(words)  # fuller cues first
        if SENTENCE_END.search(said):
            score += 4
        elif CLAUSE_END.search(said):
            score += 2
        score += 4 * min(max(after.start - before.end, 0.0), 1.0)
        if after.text.strip().lower() in _PHRASE_STARTS:
            score += 1
        if score > best_score:
            best, best_score = cut, score
    return best


def _cue_of(words: Sequence[Word], limits: CueLimits) -> Cue:
    start = words[0].start
    end = min(max(words[-1].end, start), start + limits.max_seconds)
    lines = balanced(joined(words), limits.max_line_chars, limits.max_lines)
    timed = tuple(
        Word(word.start, min(word.end, end), word.text.strip() if index == 0 else word.text)
        for index, word in enumerate(words)
    )
    return Cue(start, end, "\n".join(lines), timed)


def _held_long_enough(cues: list[Cue], limits: CueLimits) -> list[Cue]:
    """Each cue shown at least `min_seconds`: extended into the silence after it, or into
    the next cue, whose start then moves."""
    held: list[Cue] = []
    for index, cue in enumerate(cues):
        if held and cue.start < held[-1].end:
            cue = _starting(cue, held[-1].end)
        if cue.end - cue.start < limits.min_seconds:
            cue = replace(cue, end=cue.start + limits.min_seconds)
        if index + 1 < len(cues) and cue.end > cues[index + 1].start:
            # Shown until the next cue, or pushing it back by what is missing.
            cue = replace(cue, end=max(cues[index + 1].start, cue.start + limits.min_seconds))
        held.append(cue)
    return held


def _starting(cue: Cue, start: float) -> Cue:
    """`cue` shown from `start`, later than it was said: its words no earlier than that."""
    words = tuple(
        Word(max(word.start, start), max(word.end, start), word.text) for word in cue.words
    )
    return replace(cue, start=start, end=max(cue.end, start), words=words)


def wrap(line: str, width: int) -> list[str]:
    """`line` in as few lines of at most `width` characters as it takes, as even as they
    can be, broken between words (or between characters of unspaced scripts)."""
    if len(line) <= width:
        return [line] if line else []
    count = len(_greedy(line, width))
    for target in range(math.ceil(len(line) / count), width + 1):
        lines = _greedy(line, target)
        if len(lines) == count:
            return lines
    return _greedy(line, width)


def balanced(text: str, width: int, max_lines: int) -> list[str]:
    """`text` wrapped to `width`; when it takes two lines, broken where a phrase ends if
    that keeps both lines within `width` and near the same length."""
    lines = wrap(text, width)
    if len(lines) != 2 or max_lines < 2:
        return lines
    pieces = _pieces(text)
    best = lines
    best_score = -math.inf
    for cut in range(1, len(pieces)):
        first, second = "".join(pieces[:cut]).strip(), "".join(pieces[cut:]).strip()
        if len(first) > width or len(second) > width:
            continue
        score = -abs(len(first) - len(second)) / width
        if SENTENCE_END.search(first):
            score += 0.6
        elif CLAUSE_END.search(first):
            score += 0.4
        if score > best_score:
            best, best_score = [first, second], score
    return best


def _pieces(line: str) -> list[str]:
    pieces: list[str] = []
    for piece in _PIECE.findall(line):
        core = piece.lstrip()
        space = piece[: len(piece) - len(core)]
        pieces.append(space + core)
    return pieces


def _greedy(line: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for piece in _pieces(line):
        core = piece.lstrip()
        while len(core) > width:  # a word longer than a line (a URL) is cut
            if current:
                lines.append(current)
                current = ""
            lines.append(core[:width])
            core = core[width:]
        if not current:
            current = core
        elif len(current) + len(piece) <= width:
            current += piece
        else:
            lines.append(current)
            current = core
    if current:
        lines.append(current)
    return lines
