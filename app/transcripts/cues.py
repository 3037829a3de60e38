"""The caption cue every transcript format is read into and written from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    """Text shown from `start` to `end` (seconds); `text` holds one line per "\\n"."""

    start: float
    end: float
    text: str

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
