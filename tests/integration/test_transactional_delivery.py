"""``TransactionalPipeline`` against the real broker, read back with ``read_committed``.

Pinned: a commit carries the checkpoint record with the messages; an abandoned
transaction shows nothing; a second producer with the sink's id fences the first;
the commit policy, not age, ends exactly-once transactions.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from engine.adapters.kafka import Fenced
from engine.runtime.checkpoints import Checkpoint, encode_checkpoint
from engine.runtime.tracker import Position
from engine.runtime.transactional import TransactionalPipeline
from engine.specification.model import Message
from engine.specification.settings import SinkSettings

pytestmark = pytest.mark.integration


def message(topic: str, n: int) -> Message:
    return Message(topic, f"k{n % 3}".encode(), json.dumps({"n": n}).encode(), (), 0, 100 + n)


def pipeline(kafka: Any, topic: str, tid: str, checkpoints: str | None) -> TransactionalPipeline:
    settings = SinkSettings(topic=topic, bootstrap_servers=kafka.bootstrap)

    def record(position: Position | None) -> tuple[str, bytes, bytes]:
        assert checkpoints is not None
        return checkpoints, b"the-sink", encode_checkpoint(Checkpoint(position))

    return TransactionalPipeline(
        settings, tid, client_id="txn-test", checkpoint_record=record if checkpoints else None
    )


def send(p: TransactionalPipeline, topic: str, numbers: range) -> None:
    for n in numbers:
        p.send(message(topic, n), position=100 + n, revision=None)


def durable(p: TransactionalPipeline, *, final: bool = False) -> Position | None:
    """Commit what is open (the action), then ask what a checkpoint may hold (the query)."""
    p.make_durable(final=final)
    return p.confirmed


def numbers(kafka: Any, topic: str, count: int, timeout: float = 10) -> list[int]:
    return [
        json.loads(r.value)["n"]
        for r in kafka.consume(topic, count, timeout=timeout, committed_only=True)
    ]


def test_a_commit_carries_the_checkpoint_with_its_messages(kafka_broker: Any, topic: str) -> None:
    checkpoints = f"{topic}-checkpoints"
    kafka_broker.create_topic(topic, partitions=3)
    kafka_broker.create_topic(checkpoints)
    p = pipeline(kafka_broker, topic, f"test-{uuid.uuid4().hex}", checkpoints)
    try:
        p.fence()
        send(p, topic, range(10))
        p.poll(0.3)
        p.commit_due()
        assert p.log.open  # exactly once: not committed by age
        assert durable(p) == Position(109, None)
        send(p, topic, range(10, 15))
        assert durable(p) == Position(114, None)
    finally:
        p.close(5)
    assert sorted(numbers(kafka_broker, topic, 15)) == list(range(15))
    stored = kafka_broker.consume(checkpoints, 2, timeout=10, committed_only=True)
    assert [(r.key, json.loads(r.value)["logPosition"]) for r in stored] == [
        (b"the-sink", 109),
        (b"the-sink", 114),
    ]


def test_an_abandoned_transaction_shows_nothing(kafka_broker: Any, topic: str) -> None:
    kafka_broker.create_topic(topic)
    p = pipeline(kafka_broker, topic, f"test-{uuid.uuid4().hex}", None)
    try:
        send(p, topic, range(5))
        assert durable(p) == Position(104, None)
        send(p, topic, range(5, 9))
        p.settle(lambda: False, limit_s=10)
        p.abandon()
        assert p.confirmed == Position(104, None)
        send(p, topic, range(9, 11))
        assert durable(p) == Position(110, None)
    finally:
        p.close(5)
    assert numbers(kafka_broker, topic, 11, timeout=5) == [0, 1, 2, 3, 4, 9, 10]


def test_a_second_producer_with_the_id_fences_the_first(kafka_broker: Any, topic: str) -> None:
    kafka_broker.create_topic(topic)
    tid = f"test-{uuid.uuid4().hex}"
    old = pipeline(kafka_broker, topic, tid, None)
    new = pipeline(kafka_broker, topic, tid, None)
    try:
        send(old, topic, range(3))
        assert durable(old) == Position(102, None)
        send(old, topic, range(3, 6))  # open when the new one registers
        new.fence()
        with pytest.raises(Fenced, match="fenced"):
            old.make_durable(final=False)
            send(old, topic, range(6, 8))
            old.make_durable(final=False)
        assert durable(old, final=True) == Position(102, None)  # final: no raise
        send(new, topic, range(100, 102))
        assert durable(new) == Position(201, None)
    finally:
        old.close(0)
        new.close(5)
    assert numbers(kafka_broker, topic, 5, timeout=5) == [0, 1, 2, 100, 101]
