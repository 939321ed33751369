"""Reads of streams and of ``$all``: directions, starts, limits, positions, ids, times."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.fixtures.kurrentdb_library import StreamState, errors
from tests.integration.standin.helpers import append, events, head

pytestmark = pytest.mark.integration


def test_stream_reads_forwards_backwards_from_revision_with_limit(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 5))

    forwards = client.get_stream(stream)
    assert [e.stream_position for e in forwards] == [0, 1, 2, 3, 4]
    assert [e.data[:6] for e in forwards] == [b"000000", b"000001", b"000002", b"000003", b"000004"]
    assert [e.stream_position for e in client.get_stream(stream, backwards=True)] == [4, 3, 2, 1, 0]
    assert [e.stream_position for e in client.get_stream(stream, stream_position=3)] == [3, 4]
    assert [e.stream_position for e in client.get_stream(stream, limit=2)] == [0, 1]
    backwards_from_2 = client.get_stream(stream, stream_position=2, backwards=True, limit=2)
    assert [e.stream_position for e in backwards_from_2] == [2, 1]
    assert client.get_current_version(stream) == 4


def test_reading_a_missing_stream_raises_not_found(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("missing")
    with pytest.raises(errors.NotFound):
        client.get_stream(stream)
    assert client.get_current_version(stream) is StreamState.NO_STREAM


def test_recorded_events_carry_string_ids_types_positions_and_created_time(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    new = events("OrderPlaced", 2)
    before = dt.datetime.now(dt.UTC)
    last_position = append(client, stream, new)
    after = dt.datetime.now(dt.UTC)

    got = client.get_stream(stream)
    assert [e.id for e in got] == [e.id for e in new]
    assert [e.type for e in got] == ["OrderPlaced", "OrderPlaced"]
    assert [e.content_type for e in got] == ["application/json"] * 2
    assert got[-1].commit_position == last_position
    assert got[0].commit_position < got[1].commit_position
    assert all(e.prepare_position == e.commit_position for e in got)
    for event in got:
        assert event.recorded_at is not None
        slack = dt.timedelta(seconds=2)
        assert before - slack <= event.recorded_at <= after + slack


def test_read_all_from_a_position_includes_it_and_backwards_reads_newest_first(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 4))
    ours = client.get_stream(stream)
    positions = [e.commit_position for e in ours]

    from_second = [
        e.commit_position
        for e in client.read_all(commit_position=positions[1])
        if e.stream_name == stream
    ]
    assert from_second == positions[1:]

    newest = list(client.read_all(backwards=True, limit=1, filter_exclude=()))
    assert newest[0].commit_position == positions[-1] == head(client)
    backwards = [
        e.commit_position
        for e in client.read_all(backwards=True, limit=50)
        if e.stream_name == stream
    ]
    assert backwards == positions[::-1]


def test_read_all_with_limit_counts_matching_events(kurrentdb):
    client = kurrentdb.client()
    prefix = kurrentdb.unique("lim")
    start = head(client)
    append(client, f"{prefix}-a", events("Noise", 30))
    append(client, f"{prefix}-b", events("Signal", 3))
    got = list(
        client.read_all(
            commit_position=start,
            filter_include=[f"{prefix}-b"],
            filter_by_stream_name=True,
            limit=2,
        )
    )
    assert [(e.stream_name, e.stream_position) for e in got] == [
        (f"{prefix}-b", 0),
        (f"{prefix}-b", 1),
    ]


def test_read_all_backwards_from_a_position_excludes_it(kurrentdb):
    # KurrentDB reads $all backwards from commit position X starting with the event
    # before X (forwards from X includes X).
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 4))
    positions = [e.commit_position for e in client.get_stream(stream)]
    before_third = [
        e.commit_position
        for e in client.read_all(commit_position=positions[2], backwards=True, limit=50)
        if e.stream_name == stream
    ]
    assert before_third == [positions[1], positions[0]]
