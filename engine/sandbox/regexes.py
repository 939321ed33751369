"""User regular expressions (filters, partition keys), compiled and run with a time bound.

Guarantees:

* ``compile_user_regex`` compiles with the ``regex`` package (re-compatible syntax,
  plus .NET's ``(?<name>...)`` groups that KurrentDB's own filters use) and raises
  ``PermanentError`` with the engine's message when the expression does not compile.
  Validation, the running engine and ``sinks test`` all compile through here, so
  they accept exactly the same expressions.
* ``UserRegex.search`` and ``UserRegex.fullmatch`` give up after
  ``REGEX_SEARCH_LIMIT_S`` (``engine.specification.constants``; a caller may give a
  shorter limit) and raise ``RegexTimeout`` (a ``PermanentError``) naming the
  setting, the expression and the text: a catastrophic pattern fails that one event (or
  config-test case) with a clear error instead of stalling the sink. ``regex`` also
  recognises many such patterns (like ``^(a+)+$``) and runs them in linear time.
  The ``match()`` and ``search()`` functions of JSONPath filters run through here
  too (``engine.mapping.jsonpath``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import regex

from engine.specification.constants import REGEX_SEARCH_LIMIT_S
from engine.specification.errors import PermanentError

_SHOWN_TEXT = 60  # characters of the searched text a timeout message shows


class RegexTimeout(PermanentError):
    """A user regex did not finish within its time limit."""


def regex_problem(expression: str) -> str | None:
    """Why ``expression`` does not compile, or None."""
    try:
        regex.compile(expression)
    except regex.error as exc:
        return str(exc)
    return None


def _shorten(text: str) -> str:
    return text if len(text) <= _SHOWN_TEXT else text[:_SHOWN_TEXT] + "..."


@dataclass(frozen=True, slots=True)
class UserRegex:
    key: str  # the setting the expression comes from, for messages
    expression: str
    pattern: Any  # a compiled regex.Pattern
    shown: str  # how a message names it

    @property
    def groups(self) -> int:
        return int(self.pattern.groups)

    def search(self, text: str, limit: float = REGEX_SEARCH_LIMIT_S) -> Any:
        """The first match in ``text`` (a ``regex.Match``) or None; ``RegexTimeout``
        after ``limit`` seconds."""
        try:
            return self.pattern.search(text, timeout=limit)
        except TimeoutError:
            raise self._timeout(text, limit) from None

    def fullmatch(self, text: str, limit: float = REGEX_SEARCH_LIMIT_S) -> Any:
        """The match of the whole of ``text`` or None; ``RegexTimeout`` after ``limit``."""
        try:
            return self.pattern.fullmatch(text, timeout=limit)
        except TimeoutError:
            raise self._timeout(text, limit) from None

    def _timeout(self, text: str, limit: float) -> RegexTimeout:
        return RegexTimeout(
            f"{self.key}: {self.shown} did not finish within {limit:.3g} s on {_shorten(text)!r}"
        )


def compile_user_regex(expression: str, key: str, *, shown: str | None = None) -> UserRegex:
    """``expression`` compiled; ``shown`` names it in messages (default: its text)."""
    try:
        pattern = regex.compile(expression)
    except regex.error as exc:
        raise PermanentError(f"{key}: invalid regular expression {expression!r}: {exc}") from exc
    return UserRegex(key, expression, pattern, shown or f"the regular expression {expression!r}")
