"""One sink, many topics: ``topic: "es.{category}"`` against the real broker.

Each category's events reach the category's own topic, in order per stream; a category
that first appears while the sink runs gets its topic without a reload (the test
broker creates topics on first use).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from typing import Any

import pytest

from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, SinkState
from engine.specification.model import SinkDefinition
from tests.fixtures.kurrentdb_library import StreamState
from tests.integration.sinkkit import Recorder
from tests.support.waits import wait_until
from tests.support.writers import event

pytestmark = pytest.mark.integration

PER_STREAM = 30


def append(client: Any, stream: str, count: int) -> None:
    events = [event(n, key=stream) for n in range(count)]
    client.append_to_stream(stream, current_version=StreamState.ANY, events=events)


def by_category(name: str, run: str, bootstrap: str, **extra: Any) -> SinkDefinition:
    """A sink writing each stream ``<word><run>-*`` to ``es.<word><run>``."""
    return SinkDefinition.from_canonical(
        name,
        {
            "instanceTypeName": "kafka-sink",
            "topic": "es.{category}",
            "bootstrapServers": bootstrap,
            "subscription:initialPosition": "Earliest",
            "subscription:filter:scope": "Stream",
            "subscription:filter:filterType": "Regex",
            "subscription:filter:expression": f"^[a-z]+{run}-",
            **extra,
        },
    )


def test_each_category_goes_to_its_own_topic_and_a_new_one_needs_no_reload(
    kafka_broker: Any, kurrentdb: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    categories = [f"order{run}", f"customer{run}", f"payment{run}"]
    late = f"refund{run}"
    definition = by_category(f"routed{run}", run, kafka_broker.bootstrap)
    client = kurrentdb.client()
    for category in categories:
        for i in (1, 2):
            append(client, f"{category}-{i}", PER_STREAM)
    recorder = Recorder()
    worker = SinkWorker(definition, Connections(kurrentdb_url=kurrentdb.url), recorder)
    worker.start()
    try:
        first = len(categories) * 2 * PER_STREAM

        def delivered(count: int) -> bool:
            status = worker.status()
            assert status.state is not SinkState.FAILED, status
            return status.delivered >= count

        wait_until(lambda: delivered(first), 60, lambda: f"{first} delivered: {worker.status()}")
        append(client, f"{late}-1", PER_STREAM)  # a category the sink has not seen
        wait_until(
            lambda: delivered(first + PER_STREAM),
            60,
            lambda: f"the late category delivered: {worker.status()}",
        )
    finally:
        assert worker.stop(30)

    for category in [*categories, late]:
        streams = 1 if category == late else 2
        got = kafka_broker.consume(f"es.{category}", streams * PER_STREAM)
        by_stream: dict[str, list[int]] = defaultdict(list)
        for message in got:
            body = json.loads(message.value)
            by_stream[body["key"]].append(body["n"])
        expected = {f"{category}-{i}": list(range(PER_STREAM)) for i in range(1, streams + 1)}
        assert dict(by_stream) == expected, category  # all of them, in order, nothing else
    assert recorder.failed == 0 and not recorder.incidents


def describe(kafka_broker: Any, topic: str) -> tuple[int, str | None]:
    """(partitions, cleanup.policy) of ``topic`` as the broker has it."""
    from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

    admin = kafka_broker.admin()
    partitions = len(admin.list_topics(topic, timeout=10).topics[topic].partitions)
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return partitions, entries["cleanup.policy"].value


def test_topics_are_created_as_configured_and_an_existing_one_is_only_reported(
    kafka_broker: Any, kurrentdb: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    existing = f"es.order{run}"
    kafka_broker.create_topic(existing, partitions=1)  # there before the sink: left alone
    definition = by_category(
        f"made{run}",
        run,
        kafka_broker.bootstrap,
        **{
            "topics:create": True,
            "topics:partitions": 3,
            "topics:config": {"cleanup.policy": "compact"},
            "partitionKeyExtraction:enabled": True,
            "partitionKeyExtraction:source": "Stream",
        },
    )
    client = kurrentdb.client()
    for category in ("order", "customer"):
        for i in (1, 2):
            append(client, f"{category}{run}-{i}", 5)
    recorder = Recorder()
    worker = SinkWorker(definition, Connections(kurrentdb_url=kurrentdb.url), recorder)
    worker.start()
    try:
        wait_until(lambda: worker.status().delivered >= 20, 60, lambda: str(worker.status()))
    finally:
        assert worker.stop(30)
    assert describe(kafka_broker, f"es.customer{run}") == (3, "compact")  # made by the sink
    assert describe(kafka_broker, existing) == (1, "delete")  # never changed
    [differs] = [i for i in recorder.incidents if i.kind.value == "topic_differs"]
    assert differs.reason == (
        f"topic '{existing}' exists with 1 partition(s), not 3 (topics:partitions); "
        "cleanup.policy='delete', not 'compact' (topics:config): it is left as it is"
    )
    assert len(kafka_broker.consume(f"es.customer{run}", 10)) == 10
    assert len(kafka_broker.consume(existing, 10)) == 10
