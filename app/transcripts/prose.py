"""A transcript as text to read or to feed a language model: paragraphs and chunks.

Paragraphs end where a sentence ends, when the track has punctuation, and otherwise at a
pause or a change of speaker, once they hold `MIN_WORDS`; none grows past `MAX_WORDS`
without a break at the best place inside it. Rolling auto-captions have no pauses of a
second and often no punctuation, so size alone must be able to end a paragraph.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.transcripts.cues import Cue, Word
from app.transcripts.words import (
    CLAUSE_END,
    CLOSERS,
    END_MARKS,
    SENTENCE_END,
    is_label,
    joined,
    starts_speaker,
    word_count,
    words_of,
)

MIN_WORDS = 40
TARGET_WORDS = 80
MAX_WORDS = 120
# A pause this long ends a paragraph that is long enough; three times it ends a shorter one.
PAUSE_SECONDS = 1.0
# A track is punctuated when it ends a sentence at least once in this many words.
_PUNCTUATED_EVERY = 60
# Sentences shorter than this may follow themselves ("No. No.").
_REPEATABLE_WORDS = 3
# A sentence: text up to its end marks and closing quotes, and the space after it. A
# full stop ends one only before a space or the end ("0.5" and "bubbles...forever." go on);
# CJK full stops need no space.
_SENTENCE = re.compile(
    f"\\s*.*?(?:[{END_MARKS}]+[{CLOSERS}]*(?=\\s|$)|[\u3002\uff1f\uff01]+[{CLOSERS}]*|$)\\s*",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Passage:
    """Text said from `start` to `end` (seconds): a paragraph or a chunk."""

    start: float
    end: float
    text: str


def paragraphs(cues: Sequence[Cue], *, drop_sound_labels: bool = False) -> list[Passage]:
    """The transcript as paragraphs (see the module's docstring)."""
    words = _spoken(cues, drop_sound_labels=drop_sound_labels)
    punctuated = _is_punctuated(words)
    groups: list[list[Word]] = []
    current: list[Word] = []
    count = 0.0
    for word in words:
        if current and _ends_paragraph(current[-1], word, count, punctuated=punctuated):
            groups.append(current)
            current, count = [], 0.0
        current.append(word)
        count += word_count(word.text)
        if count >= MAX_WORDS:
            cut = _best_cut(current, MIN_WORDS, punctuated=punctuated)
            groups.append(current[:cut])
            current = current[cut:]
            count = sum(word_count(word.text) for word in current)
    if current:
        groups.append(current)
    return _without_repeated_sentences([_passage(group) for group in groups])


def chunks(
    cues: Sequence[Cue],
    *,
    max_seconds: float | None = None,
    max_words: int | None = None,
    drop_sound_labels: bool = False,
) -> list[Passage]:
    """The transcript in pieces of at most `max_seconds` or `max_words` (either or both),
    cut at the end of a sentence or phrase in the last third of a piece when there is one."""
    words = _spoken(cues, drop_sound_labels=drop_sound_labels)
    punctuated = _is_punctuated(words)
    limit_words = max_words or math.inf
    limit_seconds = max_seconds or math.inf
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        current.append(word)
        too_long = word.end - current[0].start > limit_seconds
        too_many = sum(word_count(each.text) for each in current) > limit_words
        if (too_long or too_many) and len(current) > 1:
            cut = _best_cut(current[:-1], 0, punctuated=punctuated, from_fraction=2 / 3)
            groups.append(current[:cut])
            current = current[cut:]
    if current:
        groups.append(current)
    return [_passage(group) for group in groups]


def _spoken(cues: Sequence[Cue], *, drop_sound_labels: bool) -> list[Word]:
    words = words_of(cues)
    return [word for word in words if not (drop_sound_labels and is_label(word))]


def _is_punctuated(words: Sequence[Word]) -> bool:
    ends = sum(bool(SENTENCE_END.search(word.text.strip())) for word in words)
    return ends >= max(1, len(words) // _PUNCTUATED_EVERY)


def _ends_paragraph(previous: Word, word: Word, count: float, *, punctuated: bool) -> bool:
    pause = word.start - previous.end
    if pause >= 3 * PAUSE_SECONDS and count >= MIN_WORDS / 2:
        return True
    if count < MIN_WORDS:
        return False
    turn = starts_speaker(word) or pause >= PAUSE_SECONDS
    if punctuated:
        said = previous.text.strip()
        return bool(SENTENCE_END.search(said)) and (turn or count >= TARGET_WORDS)
    return turn


def _best_cut(
    words: Sequence[Word], min_words: float, *, punctuated: bool, from_fraction: float = 0.0
) -> int:
    """The index after which `words` reads best split (the end when nothing is better)."""
    best, best_score = len(words), -math.inf
    count = 0.0
    first = math.floor(len(words) * from_fraction)
    for index, word in enumerate(words[:-1]):
        count += word_count(word.text)
        if count < min_words or index + 1 < first:
            continue
        following = words[index + 1]
        said = word.text.strip()
        score = 0.5 * (index + 1) / len(words)
        if SENTENCE_END.search(said):
            score += 3 if punctuated else 1
        elif CLAUSE_END.search(said):
            score += 1
        score += 2 * min(max(following.start - word.end, 0.0), 2.0)
        if starts_speaker(following):
            score += 2
        if score > best_score:
            best, best_score = index + 1, score
    return best


def _passage(words: Sequence[Word]) -> Passage:
    return Passage(words[0].start, words[-1].end, joined(words))


def _without_repeated_sentences(passages: Sequence[Passage]) -> list[Passage]:
    """Passages without a sentence of three words or more that repeats the one before it."""
    kept: list[Passage] = []
    previous = ""
    for passage in passages:
        pieces = []
        for match in _SENTENCE.finditer(passage.text):
            sentence = match.group()
            said = sentence.strip().casefold()
            if not said:
                continue
            # "No. No." is said; a repeated longer sentence is a caption shown twice.
            if said != previous or len(said.split()) < _REPEATABLE_WORDS:
                pieces.append(sentence)
            previous = said
        text = "".join(pieces).strip()
        if text:
            kept.append(Passage(passage.start, passage.end, text))
    return kept
