"""Did-you-mean suggestions for misspelt keys and enum values.

Matching ignores letter case (the engine does too) and always answers with the
candidate's own spelling, so a suggestion can be copied into a file as it is.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's ratio: 0.6 catches one or two slips in short words ("zsdt" → "Zstd")
# without proposing unrelated keys.
CUTOFF = 0.6


def closest(word: str, candidates: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The candidate most like ``word`` (ignoring case), or None when none is close."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean '{match}'?)" if match is not None else ""
