"""Remembering secret values so that no output ever shows them.

Guarantees: once a value is in a ``SecretBook``, ``mask_text``, ``mask_value`` and
``mask_diagnostic`` replace every occurrence of it, also inside longer strings, by
``***`` (``mask_value`` walks a structure before it is serialised, so escaping cannot
hide a secret from it); the longest secret is masked first so one containing another is hidden
whole. Empty strings are never secrets. A book may be filled and read from several
threads at once (templates render in parallel).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from engine.specification.model import Diagnostic

MASK = "***"
# Rendered in place of a secret that is not available (``--allow-missing-secrets``):
# plain text so it stays valid YAML wherever it lands, and masked like a secret.
PLACEHOLDER = "missing-secret-placeholder"


class SecretBook:
    """The secret values rendered so far; masks them in any text or value."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()  # replaced, never changed in place
        self._longest_first: tuple[str, ...] = ()

    def add(self, value: str) -> None:
        if value and value not in self._values:
            with self._lock:
                self._values = self._values | {value}
                # Longest first, so a secret that contains another is masked whole.
                self._longest_first = tuple(sorted(self._values, key=len, reverse=True))

    @property
    def values(self) -> frozenset[str]:
        return self._values

    def __bool__(self) -> bool:
        return bool(self._values)

    def mask_text(self, text: str) -> str:
        for secret in self._longest_first:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def contains_secret(self, value: Any) -> bool:
        if isinstance(value, str):
            return any(secret in value for secret in self._values)
        if isinstance(value, int | float):  # a number written from a secret ("0", "10{{s}}")
            return self._in_number(value)
        if isinstance(value, Mapping):
            return any(self.contains_secret(v) for v in value.values())
        if isinstance(value, list | tuple):
            return any(self.contains_secret(v) for v in value)
        return False

    def _in_number(self, value: float) -> bool:
        # A number whose text holds a secret may have been written from it: whole, or
        # inside a longer number (``interval: 10{{ secret("S") }}`` with S=0 is 100).
        text = str(value)
        return any(secret in text for secret in self._values)

    def mask_value(self, value: Any, *, numbers: bool = False) -> Any:
        """``value`` with every string masked (and, with ``numbers``, every number whose
        text holds a secret: settings written from one, whole or in part). Mask a structure before
        serialising it, never the serialised text: JSON escapes quotes, backslashes and
        non-ASCII, so the text no longer holds the secret as it is, while a short
        secret such as "0" would cut into the numbers."""
        if isinstance(value, str):
            return self.mask_text(value)
        if numbers and isinstance(value, int | float) and not isinstance(value, bool):
            return MASK if self._in_number(value) else value
        if isinstance(value, Mapping):
            return {k: self.mask_value(v, numbers=numbers) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(v, numbers=numbers) for v in value]
        return value

    def mask_diagnostic(self, diagnostic: Diagnostic) -> Diagnostic:
        if not self._values:
            return diagnostic
        return Diagnostic(
            diagnostic.location,
            self.mask_text(diagnostic.message),
            key=self.mask_text(diagnostic.key) if diagnostic.key else None,
            severity=diagnostic.severity,
            note=self.mask_text(diagnostic.note) if diagnostic.note else None,
            related=diagnostic.related,
        )
