"""Catch-up subscriptions: start positions, caught-up, checkpoints, live events, drops."""

from __future__ import annotations

import threading

import pytest

from tests.fixtures.kurrentdb_library import CaughtUp, Checkpoint, errors
from tests.integration.standin.helpers import (
    append,
    checkpoints,
    events,
    has_caught_up,
    head,
    recorded,
    take,
)

pytestmark = pytest.mark.integration


def test_subscribe_to_all_starts_after_the_given_position(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 3))
    positions = [e.commit_position for e in client.get_stream(stream)]

    subscription = client.subscribe_to_all(
        commit_position=positions[0], include_caught_up=True, timeout=20
    )
    items = take(subscription, has_caught_up)
    subscription.stop()
    assert [e.commit_position for e in recorded(items, {stream})] == positions[1:]


def test_subscribe_to_stream_starts_after_the_given_revision(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 4))
    subscription = client.subscribe_to_stream(
        stream, stream_position=1, include_caught_up=True, timeout=20
    )
    items = take(subscription, has_caught_up)
    subscription.stop()
    assert [e.stream_position for e in recorded(items)] == [2, 3]
    assert isinstance(items[-1], CaughtUp)


def test_caught_up_comes_after_history_and_live_events_follow(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    start = head(client)
    append(client, stream, events("OrderPlaced", 2))
    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_include=[stream],
        filter_by_stream_name=True,
        include_caught_up=True,
        timeout=20,
    )
    history = take(subscription, has_caught_up)
    assert [e.stream_position for e in recorded(history)] == [0, 1]
    append(client, stream, events("OrderPlaced", 2))
    live = take(subscription, lambda items: len(recorded(items)) >= 2)
    subscription.stop()
    assert [e.stream_position for e in recorded(live)] == [2, 3]
    assert not has_caught_up(live)


def test_stream_subscription_receives_live_events(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    subscription = client.subscribe_to_stream(stream, include_caught_up=True, timeout=20)
    assert isinstance(next(iter(subscription)), CaughtUp)
    append(client, stream, events("OrderPlaced", 2))
    live = take(subscription, lambda items: len(recorded(items)) >= 2)
    subscription.stop()
    assert [e.stream_position for e in recorded(live)] == [0, 1]


def test_filtered_subscription_checkpoints_even_when_the_filter_rarely_matches(kurrentdb):
    client = kurrentdb.client()
    prefix = kurrentdb.unique("ckpt")
    start = head(client)
    append(client, f"{prefix}-noise", events("Noise", 100))
    append(client, f"{prefix}-wanted", events("Wanted", 1))
    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_include=["Wanted"],
        include_checkpoints=True,
        include_caught_up=True,
        window_size=5,
        checkpoint_interval_multiplier=2,
        timeout=30,
    )
    history = take(subscription, has_caught_up)
    wanted = recorded(history, {f"{prefix}-wanted"})
    assert [e.type for e in wanted] == ["Wanted"]
    seen = checkpoints(history)
    assert seen, "a filtered subscription reports checkpoints while it scans past non-matches"
    assert all(c.commit_position > start for c in seen)
    assert [c.commit_position for c in seen] == sorted(c.commit_position for c in seen)
    # Checkpoints came while scanning the 100 non-matching events, before the match.
    assert seen[0].commit_position < wanted[0].commit_position

    # Live: only non-matching events arrive, yet the checkpoint moves past them (the
    # subscription's deadline fails the test if no such checkpoint comes).
    last_noise = append(client, f"{prefix}-noise", events("Noise", 100))
    live = take(
        subscription,
        lambda items: any(
            isinstance(i, Checkpoint) and i.commit_position > wanted[0].commit_position
            for i in items
        ),
    )
    subscription.stop()
    assert recorded(live, {f"{prefix}-wanted", f"{prefix}-noise"}) == []
    if not kurrentdb.external:  # a real server also scans its own system events
        assert checkpoints(live)[-1].commit_position <= last_noise


def test_checkpoints_are_not_surfaced_unless_asked_for(kurrentdb):
    client = kurrentdb.client()
    prefix = kurrentdb.unique("ckpt")
    start = head(client)
    append(client, f"{prefix}-noise", events("Noise", 60))
    subscription = client.subscribe_to_all(
        commit_position=start,
        filter_include=["Wanted"],
        include_caught_up=True,
        window_size=5,
        checkpoint_interval_multiplier=1,
        timeout=20,
    )
    items = take(subscription, has_caught_up)
    subscription.stop()
    assert checkpoints(items) == []
    assert isinstance(items[-1], CaughtUp)


def test_dropped_subscription_raises_service_unavailable_while_iterating(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 1))
    subscription = client.subscribe_to_stream(stream, include_caught_up=True, timeout=20)
    items = take(subscription, has_caught_up)
    assert len(recorded(items)) == 1
    kurrentdb.drop_subscriptions()
    with pytest.raises(errors.ServiceUnavailable):
        next(iter(subscription))
    # The server keeps serving: a new subscription works.
    again = client.subscribe_to_stream(stream, include_caught_up=True, timeout=20)
    assert len(recorded(take(again, has_caught_up))) == 1
    again.stop()


def test_dropped_subscriptions_in_the_process_variant(kurrentdb_process):
    client = kurrentdb_process.client()
    stream = kurrentdb_process.unique("orders")
    append(client, stream, events("OrderPlaced", 1))
    subscription = client.subscribe_to_all(include_caught_up=True, timeout=20)
    take(subscription, has_caught_up)
    kurrentdb_process.drop_subscriptions()
    with pytest.raises(errors.ServiceUnavailable):
        next(iter(subscription))


def test_concurrent_subscriptions_on_one_client_each_get_every_event(kurrentdb):
    # Several MiB per subscription on one connection: exercises flow control per stream.
    client = kurrentdb.client()
    stream = kurrentdb.unique("bulk")
    for _ in range(3):
        append(client, stream, events("Bulk", 1000, size=1024))
    results: dict[int, list[int]] = {}

    def read(slot: int) -> None:
        subscription = client.subscribe_to_stream(stream, include_caught_up=True, timeout=60)
        items = take(subscription, lambda got: len(recorded(got)) >= 3000)
        subscription.stop()
        results[slot] = [e.stream_position for e in recorded(items)]

    threads = [threading.Thread(target=read, args=(slot,)) for slot in range(3)]
    for thread in threads:
        thread.start()
    append(client, stream, events("Bulk", 1))  # a live event while they catch up
    for thread in threads:
        thread.join(timeout=90)
    assert sorted(results) == [0, 1, 2]
    for positions in results.values():
        assert positions == list(range(3000))
