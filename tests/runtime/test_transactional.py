"""``TransactionalPipeline`` against the fake producer: no broker needed.

Pinned: only committed positions may be checkpointed, and asking commits nothing;
``commit_due`` commits by age (group mode) but never an exactly-once transaction;
``make_durable`` commits, with the checkpoint record when exactly once; a
transaction Kafka aborts is sent again from its first record, a commit that timed
out is committed again (never sent twice); a fenced producer stops the sink, except
on a final commit; after an outage the open transaction is dropped and reading
starts again after the last commit (exactly once: after the stored checkpoint).
"""

from __future__ import annotations

import json
import time

import pytest

from engine.adapters.kafka import Fenced, Refused, TransactionAborted
from engine.runtime.checkpoints import Checkpoint, encode_checkpoint
from engine.runtime.delivery_api import Rewind
from engine.runtime.errors_policy import PoisonPolicy
from engine.runtime.tracker import Position
from engine.runtime.transactional import IDLE_COMMIT_AGE_S, TransactionalPipeline
from engine.specification.errors import TemporaryError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings
from tests.support.fake_adapters import FakeKafka

TOPIC = "orders"
CHECKPOINTS = "checkpoints"
TID = "sinks-engine.test.orders-sink"


def message(n: int) -> Message:
    return Message(TOPIC, f"k{n % 3}".encode(), json.dumps({"n": n}).encode(), (), 0, 100 + n)


def record(position: Position | None) -> tuple[str, bytes, bytes]:
    return CHECKPOINTS, b"orders-sink", encode_checkpoint(Checkpoint(position))


def pipeline(
    kafka: FakeKafka,
    *,
    exactly_once: bool = False,
    max_age_s: float = 3600.0,
    poison: PoisonPolicy | None = None,
    **canonical: object,
) -> TransactionalPipeline:
    return TransactionalPipeline(
        SinkSettings.from_canonical({"topic": TOPIC, **canonical}),
        TID,
        poison=poison,
        checkpoint_record=record if exactly_once else None,
        max_age_s=max_age_s,
        new_producer=kafka.producer,
    )


def never() -> bool:
    return False


def send(p: TransactionalPipeline, numbers: range) -> None:
    for n in numbers:
        p.send(message(n), 100 + n)


def checkpoints(kafka: FakeKafka) -> list[int | None]:
    with kafka.lock:
        values = [json.loads(m.value) for m in kafka.topics.get(CHECKPOINTS, [])]
    return [v["logPosition"] for v in values]


def test_asking_what_may_be_checkpointed_commits_nothing() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, max_age_s=0.0)  # the open transaction is due at once
    send(p, range(5))
    p.poll(0)
    assert p.in_flight == 0  # every message confirmed by the broker...
    for _ in range(3):
        assert p.confirmed is None  # ...but not committed: asking changes nothing
        assert p.idle_commit_in() is None
    assert kafka.commits == 0
    assert p.log.open
    assert kafka.positions(TOPIC) == []
    p.commit_due()  # the action
    assert kafka.commits == 1
    assert p.confirmed == Position(104)
    assert kafka.positions(TOPIC) == [100, 101, 102, 103, 104]


def test_group_mode_commits_by_age_only_when_due() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, max_age_s=3600.0)
    send(p, range(3))
    p.poll(0)
    p.commit_due()
    assert kafka.commits == 0 and p.confirmed is None  # not due yet
    p.make_durable(final=False)  # a checkpoint is due: commit now
    assert kafka.commits == 1
    assert p.confirmed == Position(102)
    assert kafka.positions(TOPIC) == [100, 101, 102]
    assert checkpoints(kafka) == []  # no checkpoint record without exactly once


def test_exactly_once_commits_carry_the_checkpoint_and_never_commit_by_age() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, exactly_once=True, max_age_s=0.0)
    send(p, range(4))
    p.poll(0)
    p.commit_due()
    assert kafka.commits == 0  # exactly once: the checkpoint policy ends transactions
    assert p.idle_commit_in() is not None  # an open transaction commits once idle
    p.make_durable(final=False)
    assert p.confirmed == Position(103)
    assert checkpoints(kafka) == [103]
    assert p.idle_commit_in() is None  # nothing open
    p.skip(104)
    p.skip(105)
    p.make_durable(final=False)  # a checkpoint alone moves past skipped records
    assert p.confirmed == Position(105)
    assert checkpoints(kafka) == [103, 105]
    assert kafka.positions(TOPIC) == [100, 101, 102, 103]


def test_an_idle_exactly_once_transaction_is_due_once_it_is_old_enough() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, exactly_once=True)
    assert p.idle_commit_in() is None  # nothing open
    send(p, range(1))
    left = p.idle_commit_in()
    assert left is not None and 0 < left <= IDLE_COMMIT_AGE_S
    deadline = time.monotonic() + 5
    while p.idle_commit_in() != 0:
        assert time.monotonic() < deadline
    assert p.log.age() >= IDLE_COMMIT_AGE_S
    assert kafka.commits == 0 and p.log.open  # asking, again and again, commits nothing
    p.make_durable(final=False)  # what the worker does when it reads 0
    assert kafka.commits == 1
    assert p.idle_commit_in() is None


def test_skipped_records_alone_commit_without_a_transaction_in_group_mode() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    p.skip(100)
    p.skip(101)
    p.make_durable(final=False)
    assert kafka.commits == 0
    assert p.confirmed == Position(101)


def test_an_aborted_commit_sends_the_transaction_again_from_its_first_record() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, exactly_once=True)
    send(p, range(3))
    p.make_durable(final=False)
    kafka.commit_errors.append(TransactionAborted("kafka: commit_transaction: aborted"))
    send(p, range(3, 7))
    p.make_durable(final=False)
    assert p.confirmed == Position(102)  # the failed commit moved nothing
    failure = p.failure
    assert failure is not None and failure.position == 103
    assert kafka.positions(TOPIC) == [100, 101, 102]  # nothing of it is visible
    assert p.recover(never)  # aborted, sent again on a new producer
    assert kafka.aborts == 1
    p.make_durable(final=False)
    assert p.confirmed == Position(106)
    assert kafka.numbers(TOPIC) == [0, 1, 2, 3, 4, 5, 6]  # each once, in order
    assert checkpoints(kafka) == [102, 106]


def test_a_commit_that_timed_out_is_committed_again_not_sent_again() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, exactly_once=True)
    kafka.commit_errors.append(TemporaryError("kafka: commit_transaction: timed out"))
    send(p, range(3))
    p.make_durable(final=False)
    assert p.failure is None
    assert kafka.aborts == 0
    assert p.confirmed == Position(102)
    assert kafka.numbers(TOPIC) == [0, 1, 2]
    assert checkpoints(kafka) == [102]
    assert p.last_client_error is not None  # reported as Kafka lost by the worker


def test_a_fenced_producer_stops_the_sink_except_on_a_final_commit() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    send(p, range(2))
    p.make_durable(final=False)
    send(p, range(2, 4))
    kafka.fence(TID)  # another owner registered the sink's id
    with pytest.raises(Fenced):
        p.make_durable(final=False)
    p.make_durable(final=True)  # ending anyway: nothing more commits, no error
    assert p.confirmed == Position(101)
    assert kafka.positions(TOPIC) == [100, 101]


def test_a_fenced_delivery_is_never_retried() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    send(p, range(1))
    kafka.fence(TID)
    send(p, range(1, 2))
    p.poll(0)
    with pytest.raises(Fenced):
        p.recover(never)


@pytest.mark.parametrize(
    ("exactly_once", "rewind"), [(False, Rewind.TO_COMMIT), (True, Rewind.TO_CHECKPOINT)]
)
def test_after_an_outage_the_open_transaction_is_dropped(
    exactly_once: bool, rewind: Rewind
) -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, exactly_once=exactly_once)
    send(p, range(3))
    p.make_durable(final=False)
    send(p, range(3, 6))
    p.poll(0)
    assert p.abandon_uncommitted() is rewind
    assert kafka.aborts == 1
    assert p.confirmed == Position(102)  # reading starts again after the last commit
    assert p.in_flight == 0 and not p.log.open
    send(p, range(3, 6))  # read again
    p.make_durable(final=False)
    assert kafka.numbers(TOPIC) == [0, 1, 2, 3, 4, 5]


def test_resuming_exactly_once_starts_from_the_stored_checkpoint() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, exactly_once=True)
    p.resumed_at(Position(99))
    assert p.confirmed == Position(99)
    group = pipeline(kafka)
    group.resumed_at(Position(99))
    assert group.confirmed is None  # group mode: the KurrentDB checkpoint is the store


def test_a_refused_message_in_a_transaction_is_skipped_by_the_policy() -> None:
    kafka = FakeKafka()
    refused = Refused("kafka: MSG_SIZE_TOO_LARGE: Broker: Message size too large")
    canonical = {"errors:tolerance": "skip"}
    poison = PoisonPolicy(
        SinkSettings.from_canonical({"topic": TOPIC, **canonical}), "s", lambda *a: None
    )
    p = pipeline(kafka, poison=poison, **canonical)
    kafka.fail(101, refused, refused)
    send(p, range(4))
    p.poll(0)
    assert p.recover(never)  # the transaction again, the refused message alone
    p.poll(0)
    assert p.recover(never)  # aborted again, sent without it
    p.make_durable(final=False)
    assert p.confirmed == Position(103)
    assert kafka.numbers(TOPIC) == [0, 2, 3]
    assert kafka.aborts == 2
