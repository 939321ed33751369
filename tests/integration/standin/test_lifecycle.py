"""Discovery, restarts keeping data, refusing connections."""

from __future__ import annotations

import pytest

from tests.fixtures.kurrentdb_library import StreamState, errors
from tests.integration.standin.helpers import append, events, once_served

pytestmark = pytest.mark.integration


def test_discovery_uri_goes_through_gossip(kurrentdb):
    client = kurrentdb.client(kurrentdb.discover_url)
    members = client.read_gossip()
    assert [m.state for m in members].count("NODE_STATE_LEADER") == 1
    if not kurrentdb.external:
        assert [(m.address, m.port) for m in members] == [("127.0.0.1", kurrentdb.server.port)]
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 1))
    assert len(client.get_stream(stream)) == 1


def test_restart_keeps_the_log_and_the_port(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 2))
    before = client.get_stream(stream)
    url = kurrentdb.url
    kurrentdb.restart()
    assert kurrentdb.url == url
    after = client.get_stream(stream)
    assert [(e.id, e.commit_position) for e in after] == [(e.id, e.commit_position) for e in before]
    position = client.append_to_stream(stream, current_version=1, events=events("OrderPlaced", 1))
    assert position > before[-1].commit_position


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_process_restart_reloads_the_journal(kurrentdb_process, hard):
    client = kurrentdb_process.client()
    stream = kurrentdb_process.unique("orders")
    append(client, stream, events("OrderPlaced", 3))
    client.set_stream_metadata(stream, metadata={"$maxCount": 2})
    before = client.get_stream(stream)
    kurrentdb_process.stop(hard=hard)
    kurrentdb_process.start()
    after = client.get_stream(stream)
    assert [(e.id, e.stream_position, e.commit_position) for e in after] == [
        (e.id, e.stream_position, e.commit_position) for e in before
    ]
    assert [e.stream_position for e in after] == [1, 2]
    position = client.append_to_stream(stream, current_version=2, events=events("OrderPlaced", 1))
    assert position > before[-1].commit_position
    with pytest.raises(Exception, match="Stream position of last event is 3"):
        client.append_to_stream(
            stream, current_version=StreamState.NO_STREAM, events=events("X", 1)
        )


def append_one(client, stream):  # type: ignore[no-untyped-def]
    return client.append_to_stream(
        stream, current_version=StreamState.ANY, events=list(events("OrderPlaced", 1)), timeout=20
    )


def test_refused_connections_then_service_resumes(kurrentdb):
    client = kurrentdb.client()
    stream = kurrentdb.unique("orders")
    append(client, stream, events("OrderPlaced", 1))
    kurrentdb.refuse_connections(1.5)
    with pytest.raises(errors.ServiceUnavailable):
        client.get_stream(stream, timeout=5)
    # Under load the restart can take longer than the refusal window: wait for it, then
    # for the first call that gets through the client's reconnect back-off.
    assert kurrentdb.wait_serving(60)
    once_served(lambda: append_one(client, stream))
    assert len(client.get_stream(stream, timeout=20)) == 2


def test_refused_connections_in_the_process_variant(kurrentdb_process):
    client = kurrentdb_process.client()
    stream = kurrentdb_process.unique("orders")
    append(client, stream, events("OrderPlaced", 1))
    kurrentdb_process.refuse_connections(1.5)
    with pytest.raises(errors.ServiceUnavailable):
        append(client, stream, events("OrderPlaced", 1))
    assert kurrentdb_process.wait_serving(60)
    once_served(lambda: append_one(client, stream))
    assert len(client.get_stream(stream, timeout=20)) == 2
