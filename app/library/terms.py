"""What a library search looks for: the words of the user's query, never its syntax.

The query is cut into words here, so neither FTS5's query language nor PostgreSQL's tsquery
syntax ever sees user input: FTS5 gets each word as a quoted string, PostgreSQL gets the
words through `plainto_tsquery`. Cues are matched in Python so both databases agree.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

MAX_MATCHES = 5
# What the repository asks the databases to put around a matched word; turned into <mark>
# once the snippet is HTML-escaped, so transcript text can never inject markup.
MARK_START, MARK_END = "\x02", "\x03"


def _is_word_char(char: str) -> bool:
    # Letters and numbers, as FTS5's unicode61 tokenizer sees them, plus combining marks so
    # that a word like "हिन्दी" stays one (quoted) phrase instead of three loose letters.
    return unicodedata.category(char)[0] in "LMN"


def _has_letter_or_number(word: str) -> bool:
    return any(unicodedata.category(char)[0] in "LN" for char in word)


def fold(text: str) -> str:
    """Case- and accent-insensitive form, like FTS5's `remove_diacritics` index."""
    text = text.casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if unicodedata.category(char)[0] != "M")


def split_words(text: str) -> Iterator[str]:
    for is_word, chars in groupby(text, key=_is_word_char):
        word = "".join(chars)
        if is_word and _has_letter_or_number(word):
            yield word


@dataclass(frozen=True)
class SearchTerms:
    """The distinct words of a query; a document must contain every one of them."""

    words: tuple[str, ...]

    @classmethod
    def parse(cls, query: str) -> SearchTerms:
        distinct: dict[str, str] = {}
        for word in split_words(query):
            distinct.setdefault(fold(word), word)
        return cls(tuple(distinct.values()))

    def fts5_query(self) -> str:
        """Each word as an FTS5 string: operators, column filters and `*` lose their meaning."""
        return " ".join('"' + word.replace('"', '""') + '"' for word in self.words)

    def plain_text(self) -> str:
        """The words for PostgreSQL's `plainto_tsquery`, which ANDs them."""
        return " ".join(self.words)

    def matching_cues(
        self, cues: Sequence[Sequence[Any]], limit: int = MAX_MATCHES
    ) -> list[Sequence[Any]]:
        """The first `limit` cues (`[start, end, text, language]`) holding one of the words."""
        words = sorted({fold(word) for word in self.words}, key=len, reverse=True)
        pattern = re.compile(r"(?<![^\W_])(?:" + "|".join(map(re.escape, words)) + r")(?![^\W_])")
        found: list[Sequence[Any]] = []
        for cue in cues:
            if pattern.search(fold(str(cue[2]))):
                found.append(cue)
                if len(found) == limit:
                    break
        return found


def render_snippet(raw: str) -> str:
    """HTML-escape the database's excerpt (cue breaks become spaces), then mark its matched
    words with <mark>."""
    escaped = html.escape(" ".join(raw.split()), quote=False)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
