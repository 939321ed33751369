"""Waiting on a ``ConfigSource`` whose files load on render threads.

``Ready`` records each ``on_ready`` call. A wait counts only calls made after a mark
taken before the poll it follows, so a notification left from an earlier load of the
same file (the first poll, a superseded save) never passes for the one awaited: a
busy machine once let such a stale call through and the test polled too early.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.config.source import ConfigSource, Poll

WAIT_S = 60.0  # only a bound on a broken test, never a measurement


class Ready:
    """``on_ready`` calls, in order."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, path: str) -> None:
        with self.changed:
            self.paths.append(path)
            self.changed.notify_all()

    def mark(self) -> int:
        """A point to wait from: only calls after it count."""
        with self.changed:
            return len(self.paths)

    def wait_for(self, path: Path | str, since: int, timeout: float = WAIT_S) -> None:
        """Wait for an ``on_ready`` call for ``path`` made after the mark ``since``."""
        with self.changed:
            came = self.changed.wait_for(lambda: str(path) in self.paths[since:], timeout)
        assert came, f"no on_ready for {path} within {timeout:.0f} s"


def poll_until_loaded(source: ConfigSource, ready: Ready, path: Path) -> Poll:
    """Poll until a poll applies ``path``, waiting for its ``on_ready`` between polls."""
    deadline = time.monotonic() + WAIT_S
    while True:
        since = ready.mark()
        poll = source.poll()
        if str(path) in poll.loaded:
            return poll
        ready.wait_for(path, since, max(0.1, deadline - time.monotonic()))


def settled(source: ConfigSource, ready: Ready) -> Poll:
    """Poll until no file is left pending."""
    deadline = time.monotonic() + WAIT_S
    while True:
        since = ready.mark()
        poll = source.poll()
        if not poll.pending_files:
            return poll
        ready.wait_for(poll.pending_files[0], since, max(0.1, deadline - time.monotonic()))
