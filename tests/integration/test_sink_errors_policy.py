"""errors:tolerance against the real broker and the KurrentDB-protocol server.

A message over the topic's ``max.message.bytes`` and a transformer that throws on one
event, with each policy: ``fail`` stops at the event, ``skip`` leaves it out and moves
the checkpoint past it, ``deadLetter`` sends its original value and headers to the
dead-letter topic with headers naming the error, the sink and the position. Also in
cluster mode (transactional producer), where the poison message is handled inside the
transaction sent again.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from engine.adapters.kurrentdb import KurrentClient
from engine.runtime.checkpoints import CheckpointStore
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Cause, Connections, IncidentKind, SinkState
from tests.integration.sinkkit import KEYED, Recorder, definition, unique_name
from tests.support.waits import came_true
from tests.support.writers import append_numbered, event

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOO_LARGE = "kafka: MSG_SIZE_TOO_LARGE: Broker: Message size too large"


def stored_checkpoint(url: str, name: str) -> int | None:
    client = KurrentClient(url)
    try:
        stored = CheckpointStore(client, name).load()
    finally:
        client.close()
    return None if stored is None or stored.position is None else stored.position.log_position


def numbers(
    kafka_broker: Any, topic: str, count: int, *, committed_only: bool = False
) -> list[int]:
    consumed = kafka_broker.consume(topic, count, timeout=20, committed_only=committed_only)
    return [json.loads(c.value)["n"] for c in consumed]


def headers_of(consumed: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in consumed.headers}


def run_with_big_event(
    kafka_broker: Any,
    kurrentdb: Any,
    topic: str,
    connections: Connections | None = None,
    **errors: Any,
) -> tuple[str, int, SinkWorker, Recorder]:
    """20 events, one of 200 kB (over the topic's 50 kB limit) as n=20, then 10 more."""
    kafka_broker.create_topic(topic, config={"max.message.bytes": "50000"})
    name = unique_name()
    client = kurrentdb.client()
    sink = definition(
        name,
        topic,
        kafka_broker.bootstrap,
        **KEYED,
        **{"compression:type": "None", "autocommit:recordsThreshold": 5},
        **errors,
    )
    append_numbered(client, name, 20, keys=1)
    big = client.append_to_stream(
        f"{name}-k0", current_version=19, events=[event(20, key="k0", size=200_000)]
    )
    append_numbered(client, name, 10, keys=1, start=21)
    recorder = Recorder()
    worker = SinkWorker(sink, connections or Connections(kurrentdb.url), recorder)
    worker.start()
    return name, big, worker, recorder


def test_over_the_size_limit_fail_stops_at_the_event(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    name, big, worker, recorder = run_with_big_event(
        kafka_broker, kurrentdb, topic, **{"errors:tolerance": "fail"}
    )
    try:
        assert worker.wait_for(SinkState.FAILED, timeout=60), worker.status()
    finally:
        worker.stop(30)
    reason = f"delivery failed at position {big}: {TOO_LARGE} (not a transient error)"
    assert worker.status().reason == reason
    assert [(i.kind, i.cause, i.position) for i in recorder.incidents] == [
        (IncidentKind.FAILED, Cause.DELIVERY, big)
    ]
    checkpoint = stored_checkpoint(kurrentdb.url, name)
    assert checkpoint is not None and checkpoint < big


def test_over_the_size_limit_skip_moves_past_the_event(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    name, big, worker, recorder = run_with_big_event(
        kafka_broker, kurrentdb, topic, **{"errors:tolerance": "skip"}
    )
    try:
        assert came_true(lambda: worker.status().checkpoint_position or big < 0, 60)
        assert came_true(lambda: (worker.status().last_delivered_position or 0) > big, 60)
        assert worker.status().state is SinkState.RUNNING
    finally:
        assert worker.stop(30)
    got = numbers(kafka_broker, topic, 40)
    assert 20 not in got
    assert sorted(set(got)) == [n for n in range(31) if n != 20]
    skipped = [i for i in recorder.incidents if i.kind is IncidentKind.SKIPPED]
    assert [(i.cause, i.position, i.reason) for i in skipped] == [(Cause.DELIVERY, big, TOO_LARGE)]
    checkpoint = stored_checkpoint(kurrentdb.url, name)
    assert checkpoint is not None and checkpoint > big  # the checkpoint moved past it


@pytest.mark.parametrize("cluster", [False, True], ids=["standalone", "transactional"])
def test_over_the_size_limit_dead_letter_keeps_value_and_headers(
    kafka_broker, kurrentdb, topic, cluster: bool
) -> None:  # type: ignore[no-untyped-def]
    dead = f"{topic}.dlq"
    kafka_broker.create_topic(dead, config={"max.message.bytes": "1048588"})
    connections = Connections(
        kurrentdb.url, transactional_prefix=f"{topic}-txn-" if cluster else None
    )
    name, big, worker, recorder = run_with_big_event(
        kafka_broker,
        kurrentdb,
        topic,
        connections,
        **{"errors:tolerance": "deadLetter", "errors:deadLetterTopic": dead},
    )
    try:
        assert came_true(lambda: (worker.status().checkpoint_position or 0) > big, 60), (
            worker.status()
        )
        assert worker.status().state is SinkState.RUNNING
    finally:
        assert worker.stop(30)
    # With transactions, the aborted tries are in the topic too: read what committed.
    got = numbers(kafka_broker, topic, 30 if cluster else 40, committed_only=cluster)
    assert sorted(set(got)) == [n for n in range(31) if n != 20]
    [letter] = kafka_broker.consume(dead, 2, timeout=10, committed_only=cluster)
    assert letter.value is not None and json.loads(letter.value)["n"] == 20
    assert len(letter.value) > 200_000  # the original value, whole
    headers = headers_of(letter)
    assert {k: headers[k] for k in headers if k.startswith("sinks-error-")} == {
        "sinks-error-reason": TOO_LARGE,
        "sinks-error-cause": "delivery",
        "sinks-error-sink": name,
        "sinks-error-position": str(big),
        "sinks-error-topic": topic,
    }
    assert headers["esdb-record-log-position"] == str(big)  # the original headers too
    assert headers["esdb-connector-id"] == name
    assert letter.key == b"k0"
    lettered = [i for i in recorder.incidents if i.kind is IncidentKind.DEAD_LETTERED]
    assert [(i.cause, i.position) for i in lettered] == [(Cause.DELIVERY, big)]


THROWS_ON_5 = base64.b64encode(
    b"function transform(record) {"
    b" if (record.value.n === 5) { throw new Error('five is poison'); }"
    b" record.value.seen = true; }"
).decode()


@pytest.mark.parametrize("tolerance", ["fail", "skip", "deadLetter"])
def test_a_transformer_that_throws_on_one_event(kafka_broker, kurrentdb, topic, tolerance) -> None:  # type: ignore[no-untyped-def]
    dead = f"{topic}.dlq"
    kafka_broker.create_topic(topic)
    kafka_broker.create_topic(dead)
    name = unique_name()
    client = kurrentdb.client()
    positions = append_numbered(client, name, 10, keys=1, batch=1)
    poison = positions[5]
    settings: dict[str, Any] = {
        "transformer:enabled": True,
        "transformer:function": THROWS_ON_5,
        "errors:tolerance": tolerance,
        "autocommit:recordsThreshold": 1,
    }
    if tolerance == "deadLetter":
        settings["errors:deadLetterTopic"] = dead
    recorder = Recorder()
    worker = SinkWorker(
        definition(name, topic, kafka_broker.bootstrap, **settings),
        Connections(kurrentdb.url),
        recorder,
    )
    worker.start()
    try:
        if tolerance == "fail":
            assert worker.wait_for(SinkState.FAILED, timeout=60), worker.status()
        else:
            assert came_true(
                lambda: (worker.status().checkpoint_position or 0) >= positions[-1], 60
            )
    finally:
        worker.stop(30)
    got = [json.loads(c.value) for c in kafka_broker.consume(topic, 10, timeout=10)]
    [incident] = [i for i in recorder.incidents if i.cause is Cause.TRANSFORMER]
    assert incident.position == poison
    assert incident.reason.startswith(
        f"sink {name!r}: transform threw: Error: five is poison "
        "(at transform (<anonymous>:1:64)) (event "
    ), incident
    assert incident.reason.endswith(f" at position {poison} in '{name}-k0')"), incident
    checkpoint = stored_checkpoint(kurrentdb.url, name)
    assert checkpoint is not None
    if tolerance == "fail":
        assert incident.kind is IncidentKind.FAILED
        assert [m["n"] for m in got] == [0, 1, 2, 3, 4]
        assert checkpoint < poison
        return
    assert [m["n"] for m in got] == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert all(m["seen"] for m in got)
    assert checkpoint >= positions[-1]
    letters = kafka_broker.consume(dead, 2, timeout=5 if tolerance == "deadLetter" else 2)
    if tolerance == "skip":
        assert incident.kind is IncidentKind.SKIPPED and letters == []
        return
    assert incident.kind is IncidentKind.DEAD_LETTERED
    [letter] = letters
    assert json.loads(letter.value) == {"n": 5, "key": "k0"}  # untransformed
    headers = headers_of(letter)
    assert headers["sinks-error-cause"] == "transformer"
    assert headers["sinks-error-position"] == str(poison)
    assert headers["sinks-error-sink"] == name
    assert headers["sinks-error-topic"] == topic
    assert headers["sinks-error-reason"] == incident.reason
