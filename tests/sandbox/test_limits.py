"""The bounded child: its result, or a stop naming the bound it passed."""

from __future__ import annotations

import time

from engine.sandbox.limits import Stopped, in_child

WAIT_S = 60.0  # only a bound on a broken test


def _double(value: int) -> int:
    return value * 2


def _hold_memory(size: int) -> int:
    block = bytearray(size)  # zero-filled: every page is touched, so resident
    time.sleep(WAIT_S)
    return len(block)


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _fail(_: object) -> None:
    raise ValueError("no")


def test_the_child_gives_its_result() -> None:
    assert in_child(_double, 21, WAIT_S, 1 << 30) == 42


def test_a_child_past_its_resident_memory_bound_is_stopped() -> None:
    assert in_child(_hold_memory, 256 << 20, WAIT_S, 128 << 20) == Stopped("memory")


def test_a_child_past_its_deadline_is_stopped() -> None:
    assert in_child(_sleep, WAIT_S, 0.2, 1 << 30) == Stopped("time")


def test_an_exception_in_the_child_is_a_failed_stop() -> None:
    assert in_child(_fail, None, WAIT_S, 1 << 30) == Stopped("failed", "ValueError: no")
