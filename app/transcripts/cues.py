"""The caption cue every transcript format is read into and written from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    """One word and when it is spoken (seconds).

    `text` keeps the space before the word as the source wrote it (" word"), so joining
    the texts of a line reads right in every script, with or without spaces.
    """

    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Cue:
    """Text shown from `start` to `end` (seconds); `text` holds one line per "\\n".

    `words` holds the word timings when the source has them (speech-recognition captions,
    json3 segments, WebVTT inline timestamps, speech recognition); empty otherwise.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    @property
    def start_ms(self) -> int:
        """The start to the millisecond, the precision of every caption format."""
        return round(self.start * 1000)

    @property
    def end_ms(self) -> int:
        """The end to the millisecond."""
        return round(self.end * 1000)

    @property
    def lines(self) -> list[str]:
        """The lines of the text, in display order."""
        return self.text.split("\n")
