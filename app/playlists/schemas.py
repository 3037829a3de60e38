"""Values of the playlists domain shared by the API, the expansion and the children."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DateWindow:
    """date_after / date_before of a channel or playlist, both inclusive."""

    after: dt.date | None = None
    before: dt.date | None = None

    @property
    def is_set(self) -> bool:
        return self.after is not None or self.before is not None

    def contains(self, day: dt.date) -> bool:
        return (self.after is None or day >= self.after) and (
            self.before is None or day <= self.before
        )

    def to_json(self) -> dict[str, Any] | None:
        """What a child keeps in its `collection` to check its exact upload date."""
        if not self.is_set:
            return None
        return {
            "date_after": self.after.isoformat() if self.after else None,
            "date_before": self.before.isoformat() if self.before else None,
        }

    @classmethod
    def from_json(cls, values: dict[str, Any] | None) -> DateWindow:
        values = values or {}
        after, before = values.get("date_after"), values.get("date_before")
        return cls(
            after=dt.date.fromisoformat(after) if after else None,
            before=dt.date.fromisoformat(before) if before else None,
        )
