"""Waiting on conditions instead of for "long enough".

``wait_until`` polls a predicate until it holds and fails naming what it waited for;
``came_true`` is the same poll for tests that assert with their own message. Both poll
every ``interval`` seconds inside a deadline, so a test takes as long as its condition
does and no longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
INTERVAL_S = 0.05


def came_true(
    predicate: Callable[[], object], timeout: float, interval: float = INTERVAL_S
) -> bool:
    """Whether ``predicate()`` held within ``timeout`` seconds (checked once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = INTERVAL_S,
) -> T:
    """``predicate()``'s first truthy value within ``timeout`` seconds.

    Otherwise an AssertionError naming ``what`` was awaited (a callable is asked at the
    end, so the message can show the state the test gave up on).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"waited {timeout}s for {described}")
        time.sleep(interval)
