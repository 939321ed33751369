"""The one TimeSpan parser: .NET's ``[d.]hh:mm:ss[.fffffff]`` as the settings accept it.

``TIMESPAN_PATTERN`` is the accepted form (in-range hours, minutes and seconds; it
is also the generated schema's pattern). ``parse_timespan`` returns the parts of a
text that matches it, or None; the canonical spelling and the seconds derive from
those parts, so the config loader and the runtime agree on every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TIMESPAN_PATTERN = r"^(\d+\.)?([01]?\d|2[0-3]):[0-5]?\d:[0-5]?\d(\.\d{1,7})?$"
_VALID = re.compile(TIMESPAN_PATTERN)
_PARTS = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class TimeSpan:
    days: int | None  # None when not written (``0.01:00:00`` keeps its ``0.``)
    hours: int
    minutes: int
    seconds: int
    fraction: str  # the digits after the seconds' point, as written ('' when none)

    @property
    def total_seconds(self) -> float:
        whole = (self.days or 0) * 86400 + self.hours * 3600 + self.minutes * 60 + self.seconds
        return whole + (float("0." + self.fraction) if self.fraction else 0.0)

    def canonical(self) -> str:
        """Two-digit fields: ``1.02:03:04.5``."""
        head = f"{self.days}." if self.days is not None else ""
        tail = f".{self.fraction}" if self.fraction else ""
        return f"{head}{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{tail}"


def parse_timespan(text: str) -> TimeSpan | None:
    text = text.strip()
    if not _VALID.match(text):
        return None
    match = _PARTS.match(text)
    assert match is not None  # the accepted form is a narrower form of this one
    days, hours, minutes, seconds, fraction = match.groups()
    return TimeSpan(
        int(days) if days else None, int(hours), int(minutes), int(seconds), fraction or ""
    )
