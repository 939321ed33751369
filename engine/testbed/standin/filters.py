"""Server-side filters of ``Streams.Read`` requests, as KurrentDB applies them.

A filter is a regex (matched anywhere, like .NET's ``Regex.IsMatch``; esdbclient anchors
its own patterns; .NET's ``(?<name>...)`` groups are read too) or a list of prefixes,
applied to the event type or to the stream name.
Results are memoised per distinct key: logs hold few distinct types/streams compared with
events, so the read loop mostly does one dict lookup per event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import regex

from engine.testbed.standin.protos import streams_pb2

# KurrentDB's default checkpoint window when a request asks for the "count" window form.
_DEFAULT_WINDOW = 32


@dataclass(frozen=True)
class ReadFilter:
    """A compiled filter: ``by_stream`` picks the key, ``matches`` tests it."""

    by_stream: bool
    matches: Callable[[str], bool]
    checkpoint_interval: int


def compile_filter(options: streams_pb2.ReadReq.Options) -> ReadFilter | None:
    """The request's filter, or None for ``no_filter`` (or no filter field at all)."""
    if options.WhichOneof("filter_option") != "filter":
        return None
    spec = options.filter
    which = spec.WhichOneof("filter")
    expression = spec.stream_identifier if which == "stream_identifier" else spec.event_type
    test: Callable[[str], bool]
    if expression.prefix:
        prefixes = tuple(expression.prefix)
        test = lambda key: key.startswith(prefixes)  # noqa: E731
    else:
        # `regex`, not `re`: it reads .NET syntax KurrentDB accepts, such as (?<name>...).
        search = regex.compile(expression.regex).search
        test = lambda key: search(key) is not None  # noqa: E731
    window = spec.max if spec.WhichOneof("window") == "max" and spec.max > 0 else _DEFAULT_WINDOW
    multiplier = spec.checkpointIntervalMultiplier or 1
    return ReadFilter(
        by_stream=which == "stream_identifier",
        matches=_memoised(test),
        checkpoint_interval=max(1, window * multiplier),
    )


def _memoised(test: Callable[[str], bool]) -> Callable[[str], bool]:
    seen: dict[str, bool] = {}

    def matches(key: str) -> bool:
        hit = seen.get(key)
        if hit is None:
            hit = seen[key] = test(key)
        return hit

    return matches
