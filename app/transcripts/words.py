"""Words with timings for every cue, and joining words back into text in any script."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from app.transcripts.cleaning import is_sound_label, spread_words
from app.transcripts.cues import Cue, Word

# Scripts written without spaces between words: Chinese, Japanese kana, their punctuation
# and full-width forms. (Korean separates words with spaces.)
UNSPACED = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_UNSPACED_CHAR = re.compile(f"[{UNSPACED}]")
_WHITESPACE = re.compile(r"\s+")
# What ends a sentence or a clause (ASCII, the ellipsis, CJK full stops and full-width
# marks), possibly followed by closing quotes or brackets.
END_MARKS = ".?!\u2026\u3002\uff1f\uff01"
CLOSERS = "\"'\u201d\u2019\u00bb)\\]\u300d\u300f"
SENTENCE_END = re.compile(f"[{END_MARKS}][{CLOSERS}]*$")
CLAUSE_END = re.compile(f"[,;:\u3001\uff0c\uff1b\uff1a\u2014\u2013][{CLOSERS}]*$")
SPEAKER_CHANGE = ">>"


def is_unspaced(char: str) -> bool:
    """Whether `char` belongs to a script written without spaces between words."""
    return bool(_UNSPACED_CHAR.fullmatch(char))


def joined(words: Iterable[Word]) -> str:
    """The text of `words` on one line: single spaces, none between unspaced scripts."""
    text = ""
    for word in words:
        piece = word.text
        if text and piece[:1].isspace():
            core = piece.lstrip()
            unspaced = bool(core) and is_unspaced(text[-1]) and is_unspaced(core[0])
            piece = core if unspaced else " " + core
        text += piece
    return _WHITESPACE.sub(" ", text).strip()


def flat(text: str) -> str:
    """`text` on one line, as `joined` would give it."""
    return joined(Word(0, 0, " " + line) for line in text.split("\n"))


def words_of(cues: Sequence[Cue]) -> list[Word]:
    """Every word of `cues` in order, with timings: a cue's own word timings when they
    spell its text, else its text shared over its time by length. The first word of each
    cue starts with a space (a cue boundary separates words)."""
    words: list[Word] = []
    for cue in cues:
        own = [word for word in cue.words if word.start < cue.end]
        if not own or joined(own) != flat(cue.text):
            own = spread_words(flat(cue.text), cue.start, cue.end, markup=False)
        for index, word in enumerate(own):
            start = min(max(word.start, cue.start), cue.end)
            end = min(max(word.end, start), cue.end)
            text = word.text if index else " " + word.text.lstrip()
            words.append(Word(start, end, text))
    return words


def is_label(word: Word) -> bool:
    """Whether `word` is a sound label such as "[Music]"."""
    return is_sound_label(word.text)


def starts_speaker(word: Word) -> bool:
    """Whether `word` marks a change of speaker (YouTube's ">>")."""
    return word.text.strip().startswith(SPEAKER_CHANGE)


def word_count(text: str) -> float:
    """How many words `text` holds; in unspaced scripts two characters count as one."""
    unspaced = len(_UNSPACED_CHAR.findall(text))
    spaced = len(_UNSPACED_CHAR.sub(" ", text).split())
    return spaced + unspaced / 2
