"""Appends: expected versions, wrong-version errors, batches, large batches, truncation."""

from __future__ import annotations

import pytest

from tests.fixtures.kurrentdb_library import NewEvent, StreamState, errors
from tests.integration.standin.helpers import append, events

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("batch", [False, True], ids=["append", "batch_append"])
def test_expected_versions(kurrentdb, batch):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")

    def write(version):
        new = events("OrderPlaced", 2) if batch else events("OrderPlaced", 1)[0]
        return client.append_to_stream(stream, current_version=version, events=new)

    with pytest.raises(errors.WrongCurrentVersion, match="does not exist"):
        write(StreamState.EXISTS)
    with pytest.raises(errors.WrongCurrentVersion, match="does not exist"):
        write(0)
    write(StreamState.NO_STREAM)
    last = 1 if batch else 0
    with pytest.raises(
        errors.WrongCurrentVersion, match=f"Stream position of last event is {last} "
    ):
        write(StreamState.NO_STREAM)
    with pytest.raises(
        errors.WrongCurrentVersion, match=f"Stream position of last event is {last} "
    ):
        write(last + 5)
    write(last)
    write(StreamState.EXISTS)
    write(StreamState.ANY)
    per_write = 2 if batch else 1
    assert client.get_current_version(stream) == 4 * per_write - 1


def test_batch_append_is_one_transaction_with_consecutive_revisions(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    new = events("OrderPlaced", 50)
    position = client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=new)
    got = client.get_stream(stream)
    assert [e.id for e in got] == [e.id for e in new]
    assert [e.stream_position for e in got] == list(range(50))
    assert got[-1].commit_position == position
    with pytest.raises(errors.WrongCurrentVersion):
        client.append_to_stream(stream, current_version=10, events=events("OrderPlaced", 3))
    assert len(client.get_stream(stream)) == 50


def test_batch_append_above_four_mebibytes(kurrentdb):
    if kurrentdb.external:
        pytest.skip("a real server caps one append at its MaxAppendSize (1 MiB by default)")
    client = kurrentdb.client()
    stream = kurrentdb.unique("big")
    big = [NewEvent(type="Blob", data=bytes([i]) * (1024 * 1024)) for i in range(5)]
    client.append_to_stream(stream, current_version=StreamState.NO_STREAM, events=big)
    got = client.get_stream(stream)
    assert [len(e.data) for e in got] == [1024 * 1024] * 5
    assert [e.data[0] for e in got] == [0, 1, 2, 3, 4]


def test_max_count_metadata_truncates_stream_reads(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("checkpoints")
    append(client, stream, events("Checkpoint", 5))
    client.set_stream_metadata(stream, metadata={"$maxCount": 2})
    assert client.get_stream_metadata(stream)[0] == {"$maxCount": 2}
    assert [e.stream_position for e in client.get_stream(stream)] == [3, 4]
    assert [e.stream_position for e in client.get_stream(stream, backwards=True, limit=1)] == [4]
    append(client, stream, events("Checkpoint", 1))
    assert [e.stream_position for e in client.get_stream(stream)] == [4, 5]
    assert client.get_current_version(stream) == 5


@pytest.mark.parametrize("batch", [False, True], ids=["append", "batch_append"])
@pytest.mark.parametrize("first", ["no_stream", "revision"])
def test_re_appending_the_same_events_with_the_same_expected_version_is_idempotent(
    kurrentdb, batch, first
):
    # KurrentDB answers a repeated append (same event ids, same expected version) with
    # the original position and writes nothing; a client retrying after a lost reply
    # relies on it.
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    expected = StreamState.NO_STREAM
    if first == "revision":
        client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=events("Seed", 1)
        )
        expected = 0
    new = events("OrderPlaced", 3 if batch else 1)
    new = new if batch else new[0]
    position = client.append_to_stream(stream, current_version=expected, events=new)
    again = client.append_to_stream(stream, current_version=expected, events=new)
    assert again == position
    written = client.get_stream(stream)
    assert len(written) == (1 if first == "revision" else 0) + (3 if batch else 1)
    # Different ids at the same expected version are still a conflict.
    with pytest.raises(errors.WrongCurrentVersion):
        client.append_to_stream(stream, current_version=expected, events=events("Other", 1))
