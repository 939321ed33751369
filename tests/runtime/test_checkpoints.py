"""Checkpoint encoding and the autocommit policy (no server needed)."""

from __future__ import annotations

import pytest

from engine.runtime.checkpoints import (
    Checkpoint,
    CheckpointStore,
    CommitPolicy,
    LeaseExpired,
    checkpoint_stream,
    decode_checkpoint,
    encode_checkpoint,
)
from engine.runtime.tracker import Position
from engine.specification.errors import PermanentError, TemporaryError
from tests.support.fake_adapters import FakeKurrentClient, FakeKurrentDB


def test_stream_name() -> None:
    assert checkpoint_stream("orders") == "$connectors/orders/checkpoints"


@pytest.mark.parametrize(
    "checkpoint",
    [Checkpoint(None), Checkpoint(Position(1234)), Checkpoint(Position(99, 7))],
)
def test_round_trip(checkpoint: Checkpoint) -> None:
    assert decode_checkpoint(encode_checkpoint(checkpoint), "s") == checkpoint


def test_encoding_is_plain_json() -> None:
    assert encode_checkpoint(Checkpoint(Position(5, 2))) == b'{"logPosition":5,"streamRevision":2}'


def test_unreadable_checkpoint_is_a_clear_error() -> None:
    with pytest.raises(PermanentError, match="checkpoint stream 's' holds an unreadable event"):
        decode_checkpoint(b"not json", "s")


def test_records_threshold_comes_first() -> None:
    policy = CommitPolicy(True, interval_ms=60_000, records_threshold=3)
    start = 1000.0
    policy.committed(start)
    policy.count(2)
    assert not policy.due(start + 1)
    policy.count(1)
    assert policy.due(start + 1)
    policy.committed(start + 1)
    assert not policy.due(start + 2)


def test_interval_comes_first() -> None:
    policy = CommitPolicy(True, interval_ms=500, records_threshold=1000)
    policy.committed(10.0)
    policy.count(5)
    assert not policy.due(10.4)
    assert policy.due(10.5)
    assert policy.seconds_left(10.2) == pytest.approx(0.3)


def test_disabled_never_due() -> None:
    policy = CommitPolicy(False, interval_ms=0, records_threshold=1)
    policy.count(100)
    assert not policy.due()


def test_without_the_lease_no_checkpoint_is_written() -> None:
    db = FakeKurrentDB(frozenset)
    leased = [True]
    store = CheckpointStore(FakeKurrentClient(db), "orders", may_write=lambda: leased[0])
    store.save(Checkpoint(Position(10)))
    leased[0] = False  # e.g. the member woke up after its session expired
    with pytest.raises(LeaseExpired) as caught:
        store.save(Checkpoint(Position(20)))
    assert isinstance(caught.value, TemporaryError)  # noted; the commit tries again later
    assert str(caught.value) == (
        "this member's place in the group is not confirmed (its session may have expired): "
        "the checkpoint is not written"
    )
    assert db.stored("orders") == [10]
    leased[0] = True
    store.save(Checkpoint(Position(30)))
    assert db.stored("orders") == [10, 30]
