"""``caught_up`` on a running sink: live, nothing waiting, nothing in flight."""

from __future__ import annotations

import pytest

from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, SinkState
from tests.integration.sinkkit import definition, unique_name
from tests.support.waits import came_true
from tests.support.writers import append_numbered

pytestmark = pytest.mark.integration


def test_caught_up_once_everything_stored_is_delivered(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    name = unique_name()
    client = kurrentdb.client()
    append_numbered(client, name, 5, keys=1)
    worker = SinkWorker(
        definition(
            name,
            topic,
            kafka_broker.bootstrap,
            **{
                "subscription:filter:scope": "Stream",
                "subscription:filter:filterType": "Prefix",
                "subscription:filter:expression": f"{name}-",
            },
        ),
        Connections(kurrentdb.url),
    )
    assert not worker.status().caught_up  # not started
    worker.start()
    try:
        assert came_true(lambda: worker.status().caught_up, 30), worker.status()
        status = worker.status()
        assert status.state is SinkState.RUNNING
        assert status.delivered == 5
        # Events of other streams move the head of $all but leave nothing to deliver.
        append_numbered(client, unique_name("other"), 3, keys=1)
        append_numbered(client, name, 2, keys=1, start=5)
        assert came_true(lambda: worker.status().delivered == 7, 30), worker.status()
        assert came_true(lambda: worker.status().caught_up, 30), worker.status()
    finally:
        assert worker.stop(30)
    assert not worker.status().caught_up  # stopped
