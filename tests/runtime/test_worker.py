"""``SinkWorker`` on the fake adapters: a whole sink without a broker or a server.

Pinned: events reach the topic in order per key; every stored checkpoint only
covers messages Kafka shows (with transactions: committed); a failed delivery never
moves the checkpoint and fails the sink at its position; transient failures are
retried; ``errors:tolerance`` dead-letters a refused event; checkpoints are stored
per ``autocommit`` and once more on stop; after an outage nothing committed is sent
again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from engine.adapters.kafka import Refused
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, Incident, IncidentKind, SinkState
from engine.specification.errors import TemporaryError
from engine.specification.model import SinkDefinition
from tests.support.fake_adapters import FIRST_POSITION, FakeWorld

NAME = "orders-sink"
TOPIC = "orders"
PLAIN = Connections()
GROUP = Connections(transactional_prefix="sinks-engine.group.")
REFUSED = Refused("kafka: MSG_SIZE_TOO_LARGE: Broker: Message size too large")
TIMED_OUT = TemporaryError("kafka: _MSG_TIMED_OUT: Local: Message timed out")


class Recorder:
    """A WorkerListener keeping states and incidents."""

    def __init__(self) -> None:
        self.states: list[SinkState] = []
        self.incidents: list[Incident] = []

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None:
        self.states.append(state)

    def on_incident(self, sink: str, incident: Incident) -> None:
        self.incidents.append(incident)

    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...


def definition(**settings: Any) -> SinkDefinition:
    canonical: dict[str, Any] = {
        "instanceTypeName": "kafka-sink",
        "topic": TOPIC,
        "bootstrapServers": "fake:9092",
        "subscription:initialPosition": "Earliest",
        "subscription:filter:scope": "Stream",
        "subscription:filter:filterType": "Prefix",
        "subscription:filter:expression": f"{NAME}-",
        "partitionKeyExtraction:enabled": True,
        "partitionKeyExtraction:source": "StreamSuffix",
        "autocommit:interval": 20,
    }
    return SinkDefinition.from_canonical(NAME, canonical | settings)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def append(world: FakeWorld, count: int, keys: int = 3) -> int:
    """``count`` events spread over ``keys`` streams; returns the last log position."""
    for _ in range(count):
        n = len(world.kurrentdb.events)
        world.kurrentdb.append(NAME, 1, key=f"k{n % keys}")
    return world.kurrentdb.events[-1].log_position


@pytest.fixture
def world() -> FakeWorld:
    return FakeWorld()


def running(
    world: FakeWorld, connections: Connections = PLAIN, **settings: Any
) -> tuple[SinkWorker, Recorder]:
    recorder = Recorder()
    worker = SinkWorker(definition(**settings), connections, recorder, adapters=world.adapters)
    worker.start()
    return worker, recorder


def stored(world: FakeWorld) -> list[int | None]:
    return world.kurrentdb.stored(NAME)


def assert_checkpoints_behind_deliveries(world: FakeWorld) -> None:
    """Every checkpoint stored covered only messages Kafka showed at that moment."""
    for checkpoint in world.kurrentdb.checkpoints.get(NAME, []):
        assert checkpoint.position is not None
        expected = {r.log_position for r in world.kurrentdb.events}
        behind = {p for p in expected if p <= checkpoint.position}
        assert behind <= checkpoint.visible, (checkpoint.position, behind - checkpoint.visible)


def in_order_per_key(world: FakeWorld, keys: int = 3) -> None:
    """Each key's messages in the order read, each once in the tail (re-sends allowed
    before it)."""
    count = len(world.kurrentdb.events)
    for key in range(keys):
        numbers = world.kafka.numbers(TOPIC, f"k{key}")
        assert _last_occurrences(numbers) == list(range(key, count, keys)), (key, numbers)


@pytest.fixture
def stopping() -> Iterator[list[SinkWorker]]:
    workers: list[SinkWorker] = []
    yield workers
    for worker in workers:
        worker.stop(10)


@pytest.mark.parametrize("connections", [PLAIN, GROUP], ids=["plain", "group"])
def test_events_reach_the_topic_in_order_per_key_and_are_checkpointed(
    world: FakeWorld, connections: Connections, stopping: list[SinkWorker]
) -> None:
    last = append(world, 150)
    worker, _ = running(world, connections)
    stopping.append(worker)
    wait_until(lambda: stored(world)[-1:] == [last])
    more = append(world, 60)  # live events
    wait_until(lambda: stored(world)[-1:] == [more])
    assert worker.stop(10)
    assert worker.status().state is SinkState.STOPPED
    in_order_per_key(world)
    assert sorted(world.kafka.numbers(TOPIC)) == list(range(210))  # each once
    assert_checkpoints_behind_deliveries(world)


def test_the_checkpoint_never_passes_an_unconfirmed_delivery(
    world: FakeWorld, stopping: list[SinkWorker]
) -> None:
    held = FIRST_POSITION + 50
    world.kafka.hold(held)  # the broker does not answer for this one yet
    last = append(world, 200)
    worker, _ = running(world)
    stopping.append(worker)
    # Everything else is confirmed (out of order, behind the held one)...
    wait_until(lambda: world.kafka.visible() == {p for p in range(100, last + 1)} - {held})
    wait_until(lambda: stored(world)[-1:] == [held - 1])
    assert worker.status().last_delivered_position == held - 1
    assert all(p is not None and p < held for p in stored(world))
    world.kafka.release(held)
    wait_until(lambda: stored(world)[-1:] == [last])
    assert_checkpoints_behind_deliveries(world)


def test_a_failed_delivery_fails_the_sink_and_never_moves_the_checkpoint(
    world: FakeWorld, stopping: list[SinkWorker]
) -> None:
    poison = FIRST_POSITION + 40
    world.kafka.fail(poison, REFUSED, REFUSED)  # in its batch, then alone: poison
    append(world, 100)
    worker, _ = running(world)
    stopping.append(worker)
    assert worker.wait_for(SinkState.FAILED, timeout=20), worker.status()
    status = worker.status()
    assert status.reason == (
        f"delivery failed at position {poison}: kafka: MSG_SIZE_TOO_LARGE: Broker: Message "
        "size too large (not a transient error)"
    )
    assert status.checkpoint_position == poison - 1  # what was confirmed before it
    assert all(p is not None and p < poison for p in stored(world))
    assert_checkpoints_behind_deliveries(world)


def test_transient_failures_are_retried_from_the_first_undelivered(
    world: FakeWorld, stopping: list[SinkWorker]
) -> None:
    world.kafka.fail(FIRST_POSITION + 30, TIMED_OUT, TIMED_OUT)
    last = append(world, 120)
    worker, recorder = running(world)
    stopping.append(worker)
    wait_until(lambda: stored(world)[-1:] == [last])
    assert SinkState.BACKOFF in recorder.states
    assert worker.status().state is SinkState.RUNNING
    assert worker.status().failed >= 2
    in_order_per_key(world)
    assert_checkpoints_behind_deliveries(world)


@pytest.mark.parametrize("connections", [PLAIN, GROUP], ids=["plain", "group"])
def test_errors_tolerance_dead_letters_a_refused_event(
    world: FakeWorld, connections: Connections, stopping: list[SinkWorker]
) -> None:
    poison = FIRST_POSITION + 25
    world.kafka.fail(poison, REFUSED, REFUSED)
    last = append(world, 60)
    worker, recorder = running(
        world,
        connections,
        **{"errors:tolerance": "deadLetter", "errors:deadLetterTopic": "orders-dlq"},
    )
    stopping.append(worker)
    wait_until(lambda: stored(world)[-1:] == [last])  # the checkpoint passes the poison
    assert world.kafka.positions("orders-dlq") == [poison]
    assert poison not in world.kafka.positions(TOPIC)
    assert [i.position for i in recorder.incidents if i.kind is IncidentKind.DEAD_LETTERED] == [
        poison
    ]
    assert worker.status().state is SinkState.RUNNING


@pytest.mark.parametrize("connections", [PLAIN, GROUP], ids=["plain", "group"])
def test_stop_stores_the_final_checkpoint(
    world: FakeWorld, connections: Connections, stopping: list[SinkWorker]
) -> None:
    last = append(world, 10)
    quiet = {"autocommit:interval": 600_000, "autocommit:recordsThreshold": 1_000_000}
    worker, _ = running(world, connections, **quiet)
    stopping.append(worker)
    wait_until(lambda: worker.status().delivered == 10)  # confirmed, maybe not committed
    assert stored(world) == []  # not due: neither the interval nor the threshold
    assert worker.stop(10)
    assert stored(world) == [last]
    assert_checkpoints_behind_deliveries(world)


def test_group_mode_commits_transactions_by_age_between_checkpoints(
    world: FakeWorld, stopping: list[SinkWorker]
) -> None:
    quiet = {"autocommit:interval": 600_000, "autocommit:recordsThreshold": 1_000_000}
    worker, _ = running(world, GROUP, **quiet)
    stopping.append(worker)
    # A trickle of events keeps the sink busy until its first transaction is old enough.
    wait_until(lambda: bool(append(world, 1)) and bool(world.kafka.visible()))
    assert stored(world) == []  # no checkpoint was due: the commit came by age
    assert worker.status().last_delivered_position is not None


def test_the_records_threshold_makes_a_checkpoint_due(
    world: FakeWorld, stopping: list[SinkWorker]
) -> None:
    append(world, 60)
    quiet = {"autocommit:interval": 600_000, "autocommit:recordsThreshold": 50}
    worker, _ = running(world, **quiet)
    stopping.append(worker)
    wait_until(lambda: worker.status().delivered == 60)
    append(world, 60)  # wakes the idle sink: the round that counts them commits
    wait_until(lambda: bool(stored(world)))
    first = stored(world)[0]
    assert first is not None and first >= FIRST_POSITION + 49


def test_after_an_outage_nothing_committed_is_sent_again(
    world: FakeWorld, stopping: list[SinkWorker]
) -> None:
    append(world, 80)
    worker, recorder = running(world, GROUP, **{"autocommit:interval": 200})
    stopping.append(worker)
    wait_until(lambda: len(world.kafka.visible()) == 80)
    last = append(world, 40)
    wait_until(lambda: worker.status().read == 120)
    world.kurrentdb.drop()  # the subscription fails: BACKOFF, then read again
    wait_until(lambda: world.kurrentdb.subscriptions == 2)
    more = append(world, 10)
    wait_until(lambda: world.kafka.visible() == set(range(FIRST_POSITION, more + 1)))
    assert last < more
    assert SinkState.BACKOFF in recorder.states
    assert sorted(world.kafka.numbers(TOPIC)) == list(range(130))  # each once
    in_order_per_key(world)


def _last_occurrences(numbers: list[int]) -> list[int]:
    seen: set[int] = set()
    out: list[int] = []
    for n in reversed(numbers):
        if n not in seen:
            seen.add(n)
            out.append(n)
    return out[::-1]
