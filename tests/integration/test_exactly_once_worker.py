"""A ``delivery:guarantee: exactlyOnce`` sink worker against the real broker.

Pinned: a stop and a restart repeat nothing for a ``read_committed`` consumer; the
checkpoint is a record of ``__sinks-engine.checkpoints`` keyed by the sink and the
KurrentDB stream holds its mirror; a sink switched from at least once starts from its
KurrentDB checkpoint; a second worker with the same id fences the first, which stops
in FAILED saying so.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from engine.runtime.checkpoints import checkpoint_stream
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, SinkState
from engine.specification.constants import CHECKPOINT_TOPIC
from tests.integration.sinkkit import KEYED, audit, definition, run_until_delivered, unique_name
from tests.support.waits import came_true
from tests.support.writers import append_numbered

pytestmark = pytest.mark.integration

EXACTLY_ONCE = {"delivery:guarantee": "exactlyOnce", "autocommit:interval": 500, **KEYED}


def connections(url: str, engine: str) -> Connections:
    return Connections(kurrentdb_url=url, exactly_once_prefix=f"sinks-engine.{engine}.")


def committed(kafka: Any, topic: str, count: int, timeout: float = 15) -> list[bytes | None]:
    return [r.value for r in kafka.consume(topic, count, timeout=timeout, committed_only=True)]


def run_once(sink: Any, url: str, engine: str, count: int) -> SinkState:
    worker = SinkWorker(sink, connections(url, engine))
    worker.start()
    try:
        assert came_true(lambda: worker.status().checkpoint_position is not None, 60)
        assert came_true(
            lambda: worker.status().delivered >= count or worker.status().state is SinkState.FAILED,
            60,
        ), worker.status()
    finally:
        assert worker.stop(30)
    return worker.status().state


def test_a_restarted_sink_repeats_nothing_and_mirrors_its_checkpoint(
    kafka_broker: Any, kurrentdb: Any, topic: str
) -> None:
    name, engine = unique_name("eo"), uuid.uuid4().hex[:8]
    kafka_broker.create_topic(topic, partitions=3)
    sink = definition(name, topic, kafka_broker.bootstrap, **EXACTLY_ONCE)
    client = kurrentdb.client()
    append_numbered(client, name, 300)
    assert run_once(sink, kurrentdb.url, engine, 300) is SinkState.STOPPED
    append_numbered(client, name, 200, start=300)
    assert run_once(sink, kurrentdb.url, engine, 200) is SinkState.STOPPED

    result = audit(committed(kafka_broker, topic, 500), 500)
    print(result.line("exactly once, stop and restart"))
    assert (result.distinct, result.duplicated, result.missing) == (500, 0, ())
    assert result.order_violations == ()

    checkpoints = [
        json.loads(r.value or b"{}")
        for r in kafka_broker.consume(CHECKPOINT_TOPIC, 10_000, timeout=5, committed_only=True)
        if r.key == name.encode()
    ]
    assert checkpoints and checkpoints[-1]["logPosition"] is not None
    mirror = client.get_stream(checkpoint_stream(name), backwards=True, limit=1)[0]
    assert json.loads(mirror.data) == checkpoints[-1]
    assert json.loads(mirror.metadata) == {"mirrorOf": f"kafka:{CHECKPOINT_TOPIC}"}


def test_a_sink_switched_from_at_least_once_starts_at_its_kurrentdb_checkpoint(
    kafka_broker: Any, kurrentdb: Any, topic: str
) -> None:
    name, engine = unique_name("eo"), uuid.uuid4().hex[:8]
    kafka_broker.create_topic(topic)
    client = kurrentdb.client()
    append_numbered(client, name, 100)
    plain = definition(name, topic, kafka_broker.bootstrap, **KEYED)
    run_until_delivered(plain, kurrentdb.url, 100)  # at least once: checkpoint in KurrentDB
    append_numbered(client, name, 50, start=100)
    sink = definition(name, topic, kafka_broker.bootstrap, **EXACTLY_ONCE)
    assert run_once(sink, kurrentdb.url, engine, 50) is SinkState.STOPPED

    result = audit(committed(kafka_broker, topic, 150), 150)
    assert (result.distinct, result.duplicated, result.missing) == (150, 0, ())


def test_a_second_copy_with_the_same_id_fences_the_first(
    kafka_broker: Any, kurrentdb: Any, topic: str
) -> None:
    name, engine = unique_name("eo"), uuid.uuid4().hex[:8]
    kafka_broker.create_topic(topic)
    sink = definition(name, topic, kafka_broker.bootstrap, **EXACTLY_ONCE)
    client = kurrentdb.client()
    append_numbered(client, name, 100)
    first = SinkWorker(sink, connections(kurrentdb.url, engine))
    second = SinkWorker(sink, connections(kurrentdb.url, engine))
    first.start()
    try:
        assert came_true(lambda: first.status().delivered >= 100, 60)
        assert came_true(lambda: first.status().checkpoint_position is not None, 30)
        second.start()
        assert came_true(lambda: second.status().state is SinkState.RUNNING, 60)
        append_numbered(client, name, 100, start=100)
        assert first.wait_for(SinkState.FAILED, timeout=30), first.status()
        assert "fenced" in (first.status().reason or "")
        assert came_true(lambda: second.status().delivered >= 100, 60), second.status()
    finally:
        first.stop(10)
        assert second.stop(30)
    result = audit(committed(kafka_broker, topic, 200), 200)
    print(result.line("exactly once, fenced copy"))
    assert (result.distinct, result.duplicated, result.missing) == (200, 0, ())
