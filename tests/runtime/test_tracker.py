"""Delivery tracking: the checkpoint never passes an unconfirmed message."""

from __future__ import annotations

import random

import pytest

from engine.runtime.tracker import DeliveryTracker, Position
from engine.specification.errors import PermanentError, TemporaryError
from engine.specification.model import Message


def msg(position: int, key: bytes = b"k") -> Message:
    return Message("t", key, b"v%d" % position, (), 0, position)


def test_in_order_confirmations_move_the_checkpoint_one_by_one() -> None:
    tracker = DeliveryTracker(capacity=10)
    seqs = [tracker.begin(msg(p), p, None) for p in (100, 200, 300)]
    assert tracker.confirmed is None
    tracker.confirm(seqs[0])
    assert tracker.confirmed == Position(100)
    tracker.confirm(seqs[1])
    tracker.confirm(seqs[2])
    assert tracker.confirmed == Position(300)
    assert tracker.in_flight == 0
    assert tracker.delivered == 3


def test_out_of_order_confirmation_waits_for_the_gap() -> None:
    tracker = DeliveryTracker()
    a, b, c = (tracker.begin(msg(p), p, None) for p in (1, 2, 3))
    tracker.confirm(c)
    tracker.confirm(b)
    assert tracker.confirmed is None  # 1 is still outstanding
    assert tracker.in_flight == 3
    tracker.confirm(a)
    assert tracker.confirmed == Position(3)
    assert tracker.in_flight == 0


def test_records_without_message_pass_only_behind_delivered_ones() -> None:
    tracker = DeliveryTracker()
    assert tracker.begin(None, 5, None) >= 0
    assert tracker.confirmed == Position(5)  # nothing in flight: moves at once
    first = tracker.begin(msg(6), 6, None)
    tracker.begin(None, 7, None)  # filtered out, but behind 6
    assert tracker.confirmed == Position(5)
    tracker.confirm(first)
    assert tracker.confirmed == Position(7)
    assert tracker.delivered == 1


def test_stream_revision_travels_with_the_position() -> None:
    tracker = DeliveryTracker()
    seq = tracker.begin(msg(40), 40, 3)
    tracker.confirm(seq)
    assert tracker.confirmed == Position(40, 3)


def test_window_is_bounded() -> None:
    tracker = DeliveryTracker(capacity=2)
    s1 = tracker.begin(msg(1), 1, None)
    assert not tracker.full
    tracker.begin(msg(2), 2, None)
    assert tracker.full
    tracker.confirm(s1)
    assert not tracker.full
    with pytest.raises(ValueError):
        DeliveryTracker(capacity=0)


def test_failure_keeps_the_checkpoint_below_the_failed_message() -> None:
    tracker = DeliveryTracker()
    a, b, c = (tracker.begin(msg(p), p, None) for p in (10, 20, 30))
    tracker.confirm(a)
    tracker.fail(b, TemporaryError("broker away"))
    tracker.confirm(c)
    assert tracker.confirmed == Position(10)
    assert tracker.failure is not None
    assert tracker.failure.position == 20
    assert isinstance(tracker.failure.error, TemporaryError)


def test_first_failure_by_position_wins() -> None:
    tracker = DeliveryTracker()
    a, b = (tracker.begin(msg(p), p, None) for p in (10, 20))
    tracker.fail(b, TemporaryError("late"))
    tracker.fail(a, PermanentError("early"))
    assert tracker.failure is not None
    assert tracker.failure.position == 10
    assert str(tracker.failure.error) == "early"


def test_rewind_returns_the_whole_window_in_read_order_and_ignores_stale_reports() -> None:
    tracker = DeliveryTracker()
    a, b, c, d = (tracker.begin(msg(p), p, None) for p in (1, 2, 3, 4))
    tracker.confirm(a)
    tracker.fail(b, TemporaryError("x"))
    tracker.confirm(d)  # confirmed after the failed one: re-sent too, for key order
    entries = tracker.rewind()
    assert [position for _, position, _ in entries] == [2, 3, 4]
    assert all(message is not None for message, _, _ in entries)
    assert tracker.failure is None
    assert tracker.in_flight == 0
    tracker.confirm(c)  # a report from before the rewind changes nothing
    assert tracker.confirmed == Position(1)
    again = [tracker.begin(m, p, r) for m, p, r in entries]
    for seq in again:
        tracker.confirm(seq)
    assert tracker.confirmed == Position(4)


def test_random_confirmation_order_never_passes_an_unconfirmed_position() -> None:
    rng = random.Random(7)
    tracker = DeliveryTracker(capacity=1000)
    positions = list(range(1, 501))
    seqs = {tracker.begin(msg(p) if p % 5 else None, p, None): p for p in positions}
    pending = [s for s in seqs if seqs[s] % 5]
    rng.shuffle(pending)
    confirmed_set: set[int] = {p for p in positions if p % 5 == 0}
    for seq in pending:
        tracker.confirm(seq)
        confirmed_set.add(seqs[seq])
        if tracker.confirmed is not None:
            assert all(p in confirmed_set for p in range(1, tracker.confirmed.log_position + 1))
    assert tracker.confirmed == Position(500)
    assert tracker.delivered == 400
    assert tracker.retired == 500 and tracker.in_flight == 0
    assert len(tracker.take_latencies()) == 400
    assert tracker.take_latencies() == []
