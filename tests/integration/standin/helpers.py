"""Helpers shared by the conformance tests (event builders, bounded subscription reads)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tests.fixtures.kurrentdb_library import (
    CaughtUp,
    Checkpoint,
    Client,
    NewEvent,
    RecordedEvent,
    StreamState,
    errors,
)

T = TypeVar("T")


def events(event_type: str, count: int, size: int = 16) -> list[NewEvent]:
    return [NewEvent(type=event_type, data=b"%06d" % i + b"x" * size) for i in range(count)]


def append(client: Client, stream: str, new: Iterable[NewEvent]) -> int:
    return client.append_to_stream(stream, current_version=StreamState.ANY, events=list(new))


def head(client: Client) -> int:
    """Commit position of the newest event of any kind (0 on an empty log)."""
    return client.get_commit_position(filter_exclude=())


def take(
    subscription: Iterable[Any], until: Callable[[list[Any]], bool], limit: int = 100_000
) -> list[Any]:
    """Items from a subscription until ``until(items)`` holds (the subscription has a deadline)."""
    items: list[Any] = []
    for item in subscription:
        items.append(item)
        if until(items) or len(items) >= limit:
            break
    return items


def recorded(items: Iterable[Any], streams: set[str] | None = None) -> list[RecordedEvent]:
    return [
        i
        for i in items
        if type(i) is RecordedEvent and (streams is None or i.stream_name in streams)
    ]


def has_caught_up(items: list[Any]) -> bool:
    return any(isinstance(i, CaughtUp) for i in items)


def checkpoints(items: Iterable[Any]) -> list[Checkpoint]:
    return [i for i in items if isinstance(i, Checkpoint)]


def once_served(call: Callable[[], T], within: float = 20.0) -> T:
    """``call()`` repeated while the client answers ServiceUnavailable, for ``within`` s.

    After the server refused connections, the client's channel can stay in its
    reconnect back-off for a while and refuse calls without trying, even though the
    server is back. The call that gets through is the condition a test waits on; a
    server that never comes back still fails the test with the client's own error.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            return call()
        except errors.ServiceUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
