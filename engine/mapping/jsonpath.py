"""RFC 9535 JSONPath filtering against the record a sink sees.

The query runs against one JSON object per event, named like the original
connectors' record so that documented filters work unchanged
(``$[?($.value.vehicle.year==2018)]``)::

    {
      "recordId": "<event id>",
      "position": {"streamId": "<stream>", "logPosition": <commit position>},
      "streamId": "<stream>",
      "streamRevision": <revision in the stream>,
      "logPosition": <commit position>,
      "timestamp": "<creation time, ISO 8601 UTC, ms>",
      "isRedacted": false,
      "isTransformed": false,
      "schemaInfo": {"subject": "<event type>", "type": "json" | "bytes"},
      "headers": {<metadata key>: <string value>, ...},
      "value": <the event data parsed as JSON>
    }

``headers`` holds every key of the event metadata when that is a JSON object
(system ``$`` keys included), non-string values JSON-encoded. An event matches
when the query selects at least one node. Only JSON events are queried: events
whose content type is not JSON, or whose data does not parse, never match.

The documented form ``$[?EXPR]`` whose ``EXPR`` only uses absolute paths (``$``,
never ``@``) gives the same answer for every member of the record, yet a query
engine evaluates it once per member (eleven times) before it can say "no". Such a
query runs instead as ``$[?EXPR']`` over ``{"r": record}``, with every ``$`` of
``EXPR`` turned into ``$.r``: one evaluation, the same answer (tested against the
plain evaluation on generated queries).

The regex functions of filters, RFC 9535's ``match()`` (the whole string) and
``search()`` (anywhere in it), run with the engine's time bound
(``engine.sandbox.regexes``): a pattern that takes longer than
``REGEX_SEARCH_LIMIT_S`` on one value, or a filter whose searches on one event take
longer than ``JSONPATH_REGEX_BUDGET_S`` together (a filter over every item of a long
array searches once per item), raises ``RegexTimeout`` naming the function and its
pattern, which the mapper turns into that event's ``TransformError`` (so
``errors:tolerance`` decides what happens to it). Everything else about them is the package's own: a
pattern that is not a valid I-Regexp (RFC 9485), or a value that is not a string,
gives false, patterns are translated to the ``regex`` package as RFC 9485 section 5
says (``.`` is one code point other than a line end), and each function runs in the
``regex`` mode the installed package runs it in, so answers do not change. Queries
compile with the same grammar and function signatures as the package's default
environment, which ``validate`` uses: the same expressions are accepted.

Both major versions of jsonpath-rfc9535 are supported through their public names:
1.x (the one Python 3.11 gets; ``function_extensions.FilterFunction`` and an
environment's ``function_extensions``) and 2.x (Python 3.12 and later;
``FunctionExtension`` and an environment's ``functions``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jsonpath_rfc9535
import regex
from iregexp_check import check as is_iregexp

from engine.config.jsonpath_syntax import one_line
from engine.mapping.headers import iso_ms
from engine.sandbox.regexes import RegexTimeout, UserRegex
from engine.specification.constants import JSONPATH_REGEX_BUDGET_S, REGEX_SEARCH_LIMIT_S
from engine.specification.errors import PermanentError
from engine.specification.model import Record

_NOT_JSON = object()
EXPRESSION_KEY = "subscription:filter:expression"

if TYPE_CHECKING:
    _FunctionBase = object
elif hasattr(jsonpath_rfc9535, "FunctionExtension"):  # jsonpath-rfc9535 2.x
    _FunctionBase = jsonpath_rfc9535.FunctionExtension
else:  # 1.x
    from jsonpath_rfc9535.function_extensions import FilterFunction as _FunctionBase


def _registry(environment: jsonpath_rfc9535.JSONPathEnvironment) -> dict[str, Any]:
    """The environment's function table: ``functions`` in 2.x, ``function_extensions`` in 1.x."""
    table = getattr(environment, "functions", None)
    if not isinstance(table, dict):
        table = getattr(environment, "function_extensions")  # noqa: B009 (1.x only)
    assert isinstance(table, dict)
    return table


# One code point other than CR or LF; a surrogate pair (a lone-surrogate string that
# JSON let through) counts as one, as the package counts it.
_DOT = r"(?:(?![\r\n])\P{Cs}|\p{Cs}\p{Cs})"


def iregexp_to_regex(pattern: str) -> str:
    """An I-Regexp as a ``regex`` pattern (RFC 9485 section 5).

    I-Regexp and ``regex`` share their syntax except for ``.``, which in I-Regexp
    matches any character but a line end: only a ``.`` outside a character class and
    not escaped is rewritten.
    """
    out: list[str] = []
    escaped = in_class = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "." and not in_class:
            out.append(_DOT)
            continue
        out.append(ch)
    return "".join(out)


def _mode_of(package_function: Any) -> int:
    """The ``regex`` mode the installed package runs ``package_function`` in.

    1.x runs match() in VERSION0 and search() in VERSION1; 2.x runs both in VERSION1.
    The two modes differ on ``[a&&b]``, a valid I-Regexp: VERSION0 reads a set of three
    characters, VERSION1 the intersection of ``a`` and ``b``, which is empty.
    """
    return int(regex.VERSION0 if package_function("b", "[a&&b]") else regex.VERSION1)


@lru_cache(maxsize=256)
def _function_pattern(name: str, pattern: str, mode: int) -> UserRegex | None:
    """``pattern`` compiled for ``name()`` as the package compiles it; None if not I-Regexp."""
    if not is_iregexp(pattern):
        return None
    try:
        compiled = regex.compile(iregexp_to_regex(pattern), mode)
    except regex.error:
        return None
    return UserRegex(
        EXPRESSION_KEY, pattern, compiled, f"the JSONPath {name}() pattern {pattern!r}"
    )


class _BoundedRegexFunction(_FunctionBase):
    """``match`` or ``search`` as the package defines them, with the engine's time bound."""

    def __init__(self, name: str, package_function: Any) -> None:
        self.name = name
        self._signature = (package_function.arg_types, package_function.return_type)
        self._mode = _mode_of(package_function)

    @property
    def arg_types(self) -> Any:
        return self._signature[0]

    @property
    def return_type(self) -> Any:
        return self._signature[1]

    def __call__(self, value: object, pattern: object) -> bool:
        if not isinstance(pattern, str) or not isinstance(value, str):
            return False  # the package's answer for Nothing, numbers, objects
        compiled = _function_pattern(self.name, pattern, self._mode)
        if compiled is None:
            return False
        limit = REGEX_SEARCH_LIMIT_S
        deadline = getattr(_event_budget, "deadline", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _budget_spent(compiled)
            limit = min(limit, left)
        try:
            if self.name == "match":
                return compiled.fullmatch(value, limit) is not None
            return compiled.search(value, limit) is not None
        except RegexTimeout:
            if limit < REGEX_SEARCH_LIMIT_S:
                raise _budget_spent(compiled) from None
            raise


# The deadline of the filter evaluation running on this thread (JsonPathFilter.matches):
# every match()/search() call of one evaluation draws on the same budget.
_event_budget = threading.local()


def _budget_spent(compiled: UserRegex) -> RegexTimeout:
    return RegexTimeout(
        f"{compiled.key}: the match() and search() calls of the filter took longer than "
        f"{JSONPATH_REGEX_BUDGET_S:g} s in all on this event (stopped at {compiled.shown})"
    )


def bounded_environment() -> jsonpath_rfc9535.JSONPathEnvironment:
    """The package's default environment with ``match()`` and ``search()`` bounded in time."""
    environment = jsonpath_rfc9535.JSONPathEnvironment()
    table = _registry(environment)
    for name in ("match", "search"):
        table[name] = _BoundedRegexFunction(name, table[name])
    return environment


ENVIRONMENT = bounded_environment()


def compile_query(expression: str) -> jsonpath_rfc9535.JSONPathQuery:
    """The compiled query, or ``PermanentError`` naming the setting and the parser's reason."""
    try:
        return ENVIRONMENT.compile(expression)
    except jsonpath_rfc9535.JSONPathError as exc:
        raise PermanentError(
            f"{EXPRESSION_KEY}: invalid JSONPath query {expression!r}: {one_line(exc, expression)}"
        ) from exc


class TooDeep(Exception):
    """The event's data is nested deeper than the interpreter can walk: a fault of that
    event (``errors:tolerance`` decides), never of the sink."""


def parse_value(record: Record) -> Any:
    """The event data as JSON, or ``_NOT_JSON`` when it is not a JSON event or does not parse.

    ``TooDeep`` when it nests too deeply to be read here.
    """
    if not record.is_json:
        return _NOT_JSON
    if not record.value:
        return None
    try:
        return json.loads(record.value)
    except RecursionError:
        raise TooDeep("the event's data is nested too deeply to be read") from None
    except ValueError:  # includes UnicodeDecodeError
        return _NOT_JSON


def is_json_value(value: Any) -> bool:
    return value is not _NOT_JSON


def record_document(record: Record, value: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    """The record object described in the module docstring (a fresh, mutable dict)."""
    return {
        "recordId": record.record_id,
        "position": {"streamId": record.stream_id, "logPosition": record.log_position},
        "streamId": record.stream_id,
        "streamRevision": record.stream_revision,
        "logPosition": record.log_position,
        "timestamp": iso_ms(record.timestamp_ms),
        "isRedacted": False,
        "isTransformed": False,
        "schemaInfo": {"subject": record.schema_subject, "type": record.schema_type},
        "headers": dict(headers),
        "value": value,
    }


_WRAP = "r"  # the one member of the wrapper document of a root-only filter


def _string_end(text: str, start: int) -> int:
    """Index just past the string literal that opens at ``start``, or -1 if unclosed."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return -1


def root_only_rewrite(expression: str) -> str | None:
    """``$[?EXPR]`` with only absolute paths in ``EXPR`` → the query for the wrapper.

    None when the expression has any other shape: it then runs as written.
    """
    text = expression.strip()
    if not (text.startswith("$[?") and text.endswith("]")):
        return None
    body = text[3:-1]
    out: list[str] = []
    depth, i = 0, 0
    while i < len(body):
        ch = body[i]
        if ch in "'\"":
            end = _string_end(body, i)
            if end < 0:
                return None
            out.append(body[i:end])
            i = end
            continue
        if ch == "@":
            return None  # relative to each member: must run per member
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                return None  # the filter's bracket closes early: more than one segment
        elif ch == "," and depth == 0:
            return None  # several selectors in the bracket
        out.append(f"$.{_WRAP}" if ch == "$" else ch)
        i += 1
    return None if depth else f"$[?{''.join(out)}]"


class JsonPathFilter:
    """One compiled query; ``matches`` is true when it selects at least one node."""

    __slots__ = ("_query", "_wrapped", "expression")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._query = compile_query(expression)  # also what reports a bad expression
        self._wrapped = False
        rewritten = root_only_rewrite(expression)
        if rewritten is not None:
            try:
                self._query = ENVIRONMENT.compile(rewritten)
                self._wrapped = True
            except jsonpath_rfc9535.JSONPathError:
                pass  # keep the query as written

    def matches(self, document: dict[str, Any]) -> bool:
        """``RegexTimeout`` when a ``match()``/``search()`` in the query runs out of time,
        ``TooDeep`` when the query descends deeper into the event than can be walked."""
        target = {_WRAP: document} if self._wrapped else document
        _event_budget.deadline = time.monotonic() + JSONPATH_REGEX_BUDGET_S
        try:
            # finditer stops at the first node: no need to build the whole node list.
            return next(iter(self._query.finditer(target)), None) is not None
        except (RecursionError, jsonpath_rfc9535.JSONPathError) as exc:
            # 1.x runs out of Python's stack; 2.x stops at its own depth limit.
            raise TooDeep(
                f"the JSONPath filter went too deep into the event's data ({type(exc).__name__})"
            ) from None
        finally:
            _event_budget.deadline = None
