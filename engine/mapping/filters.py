"""Which events a sink reads: the subscription plan, and a pure copy of the server's filter.

``plan_subscription(settings)`` turns ``subscription:filter:scope``,
``filterType`` and ``expression`` into a ``SubscriptionPlan``: either one stream
(``stream_name``) or ``$all`` with a server-side regex filter, plus an optional
JSONPath query that the engine evaluates itself. ``ServerFilter`` evaluates a plan
the way the server would, so config tests can run without servers.

How the server sees the patterns. The client joins ``filter_include`` as
``^p1|p2$`` without grouping, and ``filter_exclude`` as ``^(?!(p1$|p2$))``; the
server then *searches* that regex in the stream id or the event type (no implicit
anchoring). Every include pattern built here is therefore one self-contained
group ``(?:...)`` that must match the *whole* subject, so the client's ``^`` and
``$`` anchor it correctly:

* a user regex ``R`` keeps its search meaning: ``(?:[\\s\\S]*?(?:R)[\\s\\S]*)``.
  A leading global flag group such as ``(?i)`` is turned into a scoped one
  (``(?i:R)``), because a global flag may not follow the client's ``^``;
* prefixes ``a,b`` become ``(?:a|b)[\\s\\S]*`` with the prefixes escaped;
* several exact stream ids ``a,b`` become ``(?:a|b)`` (escaped).

Decisions (scope = what the pattern is matched against):

* scope ``Stream`` → stream ids; ``Record`` → event types; ``Unspecified`` with a
  non-empty expression → stream ids (the common case: ``orders-``).
* Empty expression: scope set → all of ``$all`` including system events (no
  filter at all); scope unspecified → ``$all`` without system events (the
  client's default exclusion: event types ``$...`` and ``PersistentConfigN``).
* ``StreamId``: one id → a subscription to that stream (whatever the scope, since
  the type names a stream); several comma-separated ids → an exact-match filter
  on stream ids over ``$all``.
* ``Regex`` → the regex on stream ids or event types (search semantics).
* ``Prefix`` → comma-separated prefixes (blank items dropped).
* ``JsonPath`` → evaluated by the engine on JSON events only; the server hides
  system events as in the unspecified default.
* No ``filterType``: an expression starting with ``$`` that parses as an RFC 9535
  query is JSONPath; else it is a regex when it holds a regex metacharacter
  (``^ * + ? ( ) [ ] { } | \\`` or a trailing ``$``: a lone ``.`` or a leading
  ``$`` are read as part of a name such as ``$ce-orders`` or ``orders.v2``) and
  compiles; else a comma-separated list. A single plain name on stream ids is
  that exact stream (the quickstart's ``example-stream``), unless it ends with a
  separator (``-``, ``_``, ``.``, ``:``, ``/``), which marks a prefix (the
  documented ``prefix-`` example); several names, or names on event types, are
  prefixes.

Invalid user regexes and JSONPath queries raise ``PermanentError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.sandbox.regexes import compile_user_regex, regex_problem
from engine.specification.errors import PermanentError
from engine.specification.settings import FilterScope, FilterType, SinkSettings

# The client's own default exclusion (system event types and persistent-config events).
SYSTEM_EVENTS_EXCLUDE: tuple[str, ...] = (r"\$.+", r"PersistentConfig\d+")

EXPRESSION_KEY = "subscription:filter:expression"
_METACHARS = frozenset("^*+?()[]{}|\\")
_PREFIX_SEPARATORS = ("-", "_", ".", ":", "/")
_REGEX_SPECIALS = frozenset("\\.^$|?*+()[]{}")
_LEADING_FLAGS = re.compile(r"^\(\?([imsx]+)\)")
_ANY = r"[\s\S]*"


@dataclass(frozen=True)
class SubscriptionPlan:
    """What to subscribe to; ``filter_include`` is already safe for the client's join."""

    stream_name: str | None
    filter_include: tuple[str, ...] = ()
    filter_exclude: tuple[str, ...] = ()
    filter_by_stream_name: bool = False
    jsonpath: str | None = None

    def describe(self) -> str:
        """One line for logs and status output."""
        if self.stream_name is not None:
            return f"stream {self.stream_name!r}"
        target = "stream ids" if self.filter_by_stream_name else "event types"
        if self.filter_include:
            text = f"$all where {target} match {include_regex(self.filter_include)}"
        elif self.filter_exclude:
            text = f"$all except {target} matching {exclude_regex(self.filter_exclude)}"
        else:
            text = "$all (everything, system events included)"
        if self.jsonpath is not None:
            text += f" and JSONPath {self.jsonpath}"
        return text


def include_regex(patterns: tuple[str, ...]) -> str:
    """The regex the server receives for ``filter_include`` (the client's ungrouped join)."""
    return "^" + "|".join(patterns) + "$"


def exclude_regex(patterns: tuple[str, ...]) -> str:
    """The regex the server receives for ``filter_exclude``."""
    return "^(?!(" + "|".join(p + "$" for p in patterns) + "))"


def escape(text: str) -> str:
    """Escape regex metacharacters only (portable to .NET and Python regex engines)."""
    return "".join("\\" + c if c in _REGEX_SPECIALS else c for c in text)


def search_pattern(user_regex: str) -> str:
    """An include pattern that matches a whole subject when ``user_regex`` is found in it."""
    check_regex(user_regex)
    flags = _LEADING_FLAGS.match(user_regex)
    if flags is not None:
        inner = f"(?{flags.group(1)}:{user_regex[flags.end() :]})"
    else:
        inner = f"(?:{user_regex})"
    return f"(?:[\\s\\S]*?{inner}{_ANY})"


def prefix_pattern(prefixes: tuple[str, ...]) -> str:
    return "(?:" + "|".join(escape(p) for p in prefixes) + ")" + _ANY


def exact_pattern(names: tuple[str, ...]) -> str:
    return "(?:" + "|".join(escape(n) for n in names) + ")"


def check_regex(expression: str) -> None:
    compile_user_regex(expression, EXPRESSION_KEY)


def parses_as_jsonpath(expression: str) -> bool:
    if not expression.startswith("$"):
        return False
    from engine.mapping.jsonpath import compile_query

    try:
        compile_query(expression)
    except PermanentError:
        return False
    return True


def looks_like_regex(expression: str) -> bool:
    if any(c in _METACHARS for c in expression) or expression.endswith("$"):
        return regex_problem(expression) is None
    return False


def _names(expression: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in expression.split(",") if part.strip())


def plan_subscription(settings: SinkSettings) -> SubscriptionPlan:
    """The subscription for a sink's filter settings (see the module docstring)."""
    scope = settings.filter_scope
    kind = settings.filter_type
    expression = settings.filter_expression.strip()
    if not expression:
        if scope is FilterScope.UNSPECIFIED:
            return SubscriptionPlan(None, filter_exclude=SYSTEM_EVENTS_EXCLUDE)
        return SubscriptionPlan(None)
    on_streams = scope is not FilterScope.RECORD
    if kind is FilterType.UNSPECIFIED:
        kind = _guess_type(expression)
        if kind is FilterType.PREFIX and on_streams:
            names = _names(expression)
            if len(names) == 1 and not names[0].endswith(_PREFIX_SEPARATORS):
                return SubscriptionPlan(names[0])
    if kind is FilterType.JSON_PATH:
        from engine.mapping.jsonpath import compile_query

        compile_query(expression)  # raises PermanentError with the parser's message
        return SubscriptionPlan(None, filter_exclude=SYSTEM_EVENTS_EXCLUDE, jsonpath=expression)
    if kind is FilterType.STREAM_ID:
        names = _names(expression)
        if len(names) == 1:
            return SubscriptionPlan(names[0])
        return SubscriptionPlan(
            None, filter_include=(exact_pattern(names),), filter_by_stream_name=True
        )
    if kind is FilterType.REGEX:
        pattern = search_pattern(expression)
    else:
        names = _names(expression)
        if not names:
            raise PermanentError(f"{EXPRESSION_KEY}: no prefix in {expression!r}")
        pattern = prefix_pattern(names)
    return SubscriptionPlan(None, filter_include=(pattern,), filter_by_stream_name=on_streams)


def _guess_type(expression: str) -> FilterType:
    if parses_as_jsonpath(expression):
        return FilterType.JSON_PATH
    if looks_like_regex(expression):
        return FilterType.REGEX
    return FilterType.PREFIX


class ServerFilter:
    """The server-side part of a plan, evaluated in Python exactly as the server would.

    The regex is the very string the client sends (see ``include_regex``), searched
    in the stream id or the event type, so a pattern that the client's join would
    distort shows up here too.
    """

    __slots__ = ("_by_stream", "_search", "_stream")

    def __init__(self, plan: SubscriptionPlan) -> None:
        self._stream = plan.stream_name
        self._by_stream = plan.filter_by_stream_name
        expression: str | None = None
        if plan.filter_include:
            expression = include_regex(plan.filter_include)
        elif plan.filter_exclude:
            expression = exclude_regex(plan.filter_exclude)
        # Bounded in time: a catastrophic pattern raises RegexTimeout for that event.
        self._search = (
            compile_user_regex(expression, EXPRESSION_KEY, shown="the filter").search
            if expression
            else None
        )

    def matches(self, stream_id: str, event_type: str) -> bool:
        if self._stream is not None:
            return stream_id == self._stream
        if self._search is None:
            return True
        return self._search(stream_id if self._by_stream else event_type) is not None
