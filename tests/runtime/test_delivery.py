"""``DeliveryPipeline`` (at least once) against the fake producer: no broker needed.

Pinned: the checkpointable position only covers a contiguous run of confirmed
deliveries; a failed delivery never moves it; a transient failure sends the window
again from the first unconfirmed record, so per-key order survives; a refused
message is probed alone, then fails the sink or is skipped / dead-lettered per
``errors:tolerance``; asking what may be checkpointed changes nothing.
"""

from __future__ import annotations

import json

import pytest

from engine.adapters.kafka import Refused
from engine.runtime.delivery import DeliveryFailed, DeliveryPipeline
from engine.runtime.delivery_api import Rewind
from engine.runtime.errors_policy import PoisonPolicy
from engine.runtime.tracker import Position
from engine.runtime.worker_api import IncidentKind
from engine.specification.errors import PermanentError, TemporaryError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings
from tests.support.fake_adapters import FakeKafka

TOPIC = "orders"
REFUSED = Refused("kafka: MSG_SIZE_TOO_LARGE: Broker: Message size too large")
TIMED_OUT = TemporaryError("kafka: _MSG_TIMED_OUT: Local: Message timed out")


def message(n: int, key: str = "k0", topic: str = TOPIC) -> Message:
    return Message(topic, key.encode(), json.dumps({"n": n}).encode(), (), 0, 100 + n)


def settings(**canonical: object) -> SinkSettings:
    return SinkSettings.from_canonical({"topic": TOPIC, **canonical})


def pipeline(kafka: FakeKafka, *, poison: PoisonPolicy | None = None, **canonical: object):  # type: ignore[no-untyped-def]
    return DeliveryPipeline(
        settings(**canonical), capacity=100, poison=poison, new_producer=kafka.producer
    )


def never() -> bool:
    return False


def send(p: DeliveryPipeline, numbers: range, keys: int = 1) -> None:
    for n in numbers:
        p.send(message(n, f"k{n % keys}"), 100 + n)


def test_the_checkpointable_position_stops_at_the_first_unconfirmed_delivery() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    kafka.hold(103)  # the broker has not answered for this one yet
    send(p, range(8))
    p.poll(0)
    assert p.confirmed == Position(102)  # 104..107 are confirmed, behind 103
    assert p.in_flight == 5
    kafka.release(103)
    p.poll(0)
    assert p.confirmed == Position(107)
    assert p.in_flight == 0
    assert p.delivered == 8


def test_a_record_without_a_message_is_checkpointable_once_everything_before_it_is() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    kafka.hold(100)
    send(p, range(1))
    p.skip(101)
    assert p.confirmed is None
    kafka.release(100)
    p.poll(0)
    assert p.confirmed == Position(101)


def test_asking_what_may_be_checkpointed_changes_nothing() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    send(p, range(3))
    for _ in range(3):
        assert p.confirmed is None  # reports not served: asking does not serve them
        assert p.idle_commit_in() is None
    assert kafka.positions(TOPIC) == []
    p.poll(0)
    assert p.confirmed == Position(102)
    # At least once: the broker's confirmation is durable; nothing to commit or drop.
    p.commit_due()
    p.make_durable(final=False)
    assert p.abandon_uncommitted() is Rewind.NOTHING
    assert p.confirmed == Position(102)
    assert kafka.positions(TOPIC) == [100, 101, 102]


def test_a_failed_delivery_never_moves_the_checkpointable_position() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, **{"resilience:enabled": False})
    kafka.fail(102, TIMED_OUT)
    send(p, range(6))
    p.poll(0)
    assert p.failing
    assert p.failure is not None and p.failure.position == 102
    assert p.confirmed == Position(101)  # 103..105 were confirmed, behind the failed one
    with pytest.raises(DeliveryFailed) as failed:
        p.recover(never)
    assert str(failed.value) == (
        "delivery failed at position 102: kafka: _MSG_TIMED_OUT: Local: Message timed out "
        "(resilience is disabled)"
    )
    assert failed.value.position == 102
    assert p.confirmed == Position(101)


def test_a_transient_failure_sends_the_window_again_in_order_per_key() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    kafka.fail(104, TIMED_OUT)
    send(p, range(12), keys=3)
    p.poll(0)
    assert p.recover(never)  # settles, then produces again from 104 on a new producer
    assert len(kafka.producers) == 2
    p.settle(never)
    p.note_progress()
    assert p.failure is None
    assert p.confirmed == Position(111)
    assert p.resent == 8  # 104..111: the failed one and everything behind it
    for key in range(3):
        numbers = kafka.numbers(TOPIC, f"k{key}")
        # What was confirmed behind the failed message is sent again after it: in each
        # key's tail, every message stands after the ones before it.
        assert _last_occurrences(numbers) == list(range(key, 12, 3)), numbers


def test_retries_end_after_max_retries() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka, **{"resilience:maxRetries": 1})
    kafka.fail(101, TIMED_OUT, TIMED_OUT)
    send(p, range(3))
    p.poll(0)
    assert p.recover(never)
    p.settle(never)
    with pytest.raises(DeliveryFailed, match=r"at position 101: .* \(gave up after 1 retries\)$"):
        p.recover(never)
    assert p.confirmed == Position(100)


def test_a_refused_message_fails_the_sink_without_tolerance() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    kafka.fail(102, REFUSED, REFUSED)  # refused in its batch, then refused alone
    send(p, range(5))
    p.poll(0)
    assert p.recover(never)  # first: sent again, the refused message on its own
    p.poll(0)
    with pytest.raises(DeliveryFailed) as failed:
        p.recover(never)
    assert str(failed.value) == (
        "delivery failed at position 102: kafka: MSG_SIZE_TOO_LARGE: Broker: Message size "
        "too large (not a transient error)"
    )
    assert p.confirmed == Position(101)


def test_a_message_refused_in_its_batch_only_is_delivered() -> None:
    kafka = FakeKafka()
    p = pipeline(kafka)
    kafka.fail(102, REFUSED)  # alone, the broker takes it: it was not poison
    send(p, range(5))
    p.poll(0)
    assert p.recover(never)
    p.settle(never)
    p.note_progress()
    assert p.failure is None
    assert p.confirmed == Position(104)
    assert _last_occurrences(kafka.numbers(TOPIC)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("tolerance", "dead_letters"), [("skip", []), ("deadLetter", [102])])
def test_errors_tolerance_takes_a_refused_message(tolerance: str, dead_letters: list[int]) -> None:
    kafka = FakeKafka()
    incidents: list[tuple[object, ...]] = []
    canonical = {"errors:tolerance": tolerance, "errors:deadLetterTopic": "orders-dlq"}
    poison = PoisonPolicy(settings(**canonical), "orders-sink", lambda *a: incidents.append(a))
    p = pipeline(kafka, poison=poison, **canonical)
    kafka.fail(102, REFUSED, REFUSED)
    send(p, range(5))
    p.poll(0)
    assert p.recover(never)  # alone
    p.poll(0)
    assert p.recover(never)  # poison: skipped or dead-lettered, the window sent again
    p.settle(never)
    assert p.failure is None
    assert p.confirmed == Position(104)  # the checkpoint may pass the poison event
    assert 2 not in _last_occurrences(kafka.numbers(TOPIC))
    assert _last_occurrences(kafka.numbers(TOPIC)) == [0, 1, 3, 4]
    assert kafka.positions("orders-dlq") == dead_letters
    kind = IncidentKind.SKIPPED if tolerance == "skip" else IncidentKind.DEAD_LETTERED
    assert [(i[0], i[3]) for i in incidents] == [(kind, 102)]


def test_a_message_refused_before_it_left_is_poison_for_the_policy() -> None:
    kafka = FakeKafka()
    poison = PoisonPolicy(settings(**{"errors:tolerance": "skip"}), "s", lambda *a: None)
    real = kafka.producer  # its produce raises for 101 (larger than the producer takes)

    def refusing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        producer = real(*args, **kwargs)
        produce = producer.produce

        def produce_or_refuse(m: Message, token: int) -> None:
            if m.position == 101 and len(kafka.producers) == 1:
                raise REFUSED
            produce(m, token)

        producer.produce = produce_or_refuse  # type: ignore[method-assign]
        return producer

    p = DeliveryPipeline(
        settings(**{"errors:tolerance": "skip"}), poison=poison, new_producer=refusing
    )
    send(p, range(3))
    p.poll(0)
    assert p.failing
    assert p.recover(never)
    p.settle(never)
    assert p.confirmed == Position(102)
    assert _last_occurrences(kafka.numbers(TOPIC)) == [0, 2]


def test_a_refused_message_without_a_policy_raises_from_send() -> None:
    kafka = FakeKafka()

    def refusing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        producer = kafka.producer(*args, **kwargs)

        def refuse(m: Message, token: int) -> None:
            raise REFUSED

        producer.produce = refuse  # type: ignore[method-assign]
        return producer

    p = DeliveryPipeline(settings(), new_producer=refusing)
    with pytest.raises(PermanentError, match="Message size too large"):
        send(p, range(1))
    assert p.confirmed is None


def _last_occurrences(numbers: list[int]) -> list[int]:
    """Each number once, where it last stands: what a reader of the tail keeps."""
    seen: set[int] = set()
    out: list[int] = []
    for n in reversed(numbers):
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out[::-1]
