"""The KurrentDB adapter against the stand-in (or a real server with KURRENTDB_URL)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import pytest

from engine.adapters.kurrentdb import CAUGHT_UP, KurrentClient, PositionMarker, head_position
from engine.runtime.checkpoints import (
    AnotherWriter,
    Checkpoint,
    CheckpointStore,
    checkpoint_stream,
    reset,
)
from engine.runtime.tracker import Position
from engine.specification.errors import PermanentError, TemporaryError
from engine.specification.model import Record
from tests.fixtures.kurrentdb_library import NewEvent, StreamState

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Plan:  # the fields of engine.mapping.filters.SubscriptionPlan the adapter reads
    stream_name: str | None = None
    filter_include: tuple[str, ...] = ()
    filter_exclude: tuple[str, ...] = ()
    filter_by_stream_name: bool = False
    jsonpath: str | None = None


def append(kurrentdb, stream: str, count: int, etype: str = "Happened") -> list[int]:  # type: ignore[no-untyped-def]
    client = kurrentdb.client()
    positions = []
    for i in range(count):
        client.append_to_stream(
            stream,
            current_version=StreamState.ANY,
            events=NewEvent(type=etype, data=b'{"n": %d}' % i, metadata=b'{"k": "v"}'),
        )
    for event in client.get_stream(stream):
        assert event.commit_position is not None
        positions.append(event.commit_position)
    return positions


def take(subscription, count: int) -> list[Record | PositionMarker]:  # type: ignore[no-untyped-def]
    out: list[Record | PositionMarker] = []
    for item in subscription:
        if isinstance(item, Record):
            out.append(item)
        if len([i for i in out if isinstance(i, Record)]) >= count:
            break
    subscription.stop()
    return out


def test_subscribe_to_stream_builds_records(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    stream = kurrentdb.unique("adapter")
    positions = append(kurrentdb, stream, 3)
    client = KurrentClient(kurrentdb.url)
    try:
        records = take(client.subscribe(Plan(stream_name=stream)), 3)
        assert [r.stream_revision for r in records] == [0, 1, 2]  # type: ignore[union-attr]
        first = records[0]
        assert isinstance(first, Record)
        assert first.stream_id == stream
        assert first.log_position == positions[0]
        assert first.schema_subject == "Happened"
        assert first.is_json
        assert first.value == b'{"n": 0}'
        assert first.metadata == b'{"k": "v"}'
        assert first.timestamp_ms > 1_600_000_000_000
        uuid.UUID(first.record_id)
        after = take(client.subscribe(Plan(stream_name=stream), after_revision=0), 2)
        assert [r.stream_revision for r in after] == [1, 2]  # type: ignore[union-attr]
    finally:
        client.close()


def test_subscribe_to_all_resumes_after_a_position(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    stream = kurrentdb.unique("adapter")
    positions = append(kurrentdb, stream, 3)
    client = KurrentClient(kurrentdb.url)
    plan = Plan(filter_include=(stream,), filter_by_stream_name=True)
    try:
        got = take(client.subscribe(plan, after_position=positions[0]), 2)
        records = [r for r in got if isinstance(r, Record)]
        assert [r.log_position for r in records] == positions[1:]
        assert head_position(kurrentdb.url) >= positions[-1]
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["stream", "all"])
def test_caught_up_comes_after_the_stored_events_and_before_live_ones(kurrentdb, kind: str) -> None:  # type: ignore[no-untyped-def]
    stream = kurrentdb.unique("caughtup")
    append(kurrentdb, stream, 3)
    plan = (
        Plan(stream_name=stream)
        if kind == "stream"
        else Plan(filter_include=(stream,), filter_by_stream_name=True)
    )
    client = KurrentClient(kurrentdb.url)
    subscription = client.subscribe(plan)
    seen: list[object] = []
    try:
        for item in subscription:
            if isinstance(item, PositionMarker):
                continue
            seen.append(item)
            if item is CAUGHT_UP:
                # Appended only now: it must arrive live, after the caught-up signal.
                kurrentdb.client().append_to_stream(
                    stream,
                    current_version=StreamState.ANY,
                    events=NewEvent(type="Late", data=b"{}"),
                )
            if len(seen) == 5:
                break
    finally:
        subscription.stop()
        client.close()
    kinds = ["caught-up" if i is CAUGHT_UP else i.schema_subject for i in seen]  # type: ignore[attr-defined]
    assert kinds == ["Happened", "Happened", "Happened", "caught-up", "Late"]


def test_subscription_stops_from_another_thread(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    client = KurrentClient(kurrentdb.url)
    subscription = client.subscribe(Plan(stream_name=kurrentdb.unique("empty")))
    done = threading.Event()

    def drain() -> None:
        for _ in subscription:
            pass
        done.set()

    threading.Thread(target=drain, daemon=True).start()
    subscription.stop()
    assert done.wait(10)
    client.close()


def test_lost_server_is_a_temporary_error(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    if kurrentdb.external:
        pytest.skip("needs the stand-in to stop the server")
    client = KurrentClient(kurrentdb.url)
    subscription = client.subscribe(Plan(stream_name=kurrentdb.unique("s")))
    errors: list[BaseException] = []

    def drain() -> None:
        try:
            for _ in subscription:
                pass
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    kurrentdb.stop()
    thread.join(20)
    assert errors and isinstance(errors[0], TemporaryError), errors
    client.close()


def test_checkpoint_store_appends_with_expected_version(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    sink = kurrentdb.unique("sink")
    client = KurrentClient(kurrentdb.url)
    try:
        store = CheckpointStore(client, sink)
        assert store.load() is None
        store.save(Checkpoint(Position(10)))
        store.save(Checkpoint(Position(20, 4)))
        assert CheckpointStore(client, sink).load() == Checkpoint(Position(20, 4))
        raw = kurrentdb.client()
        metadata, _ = raw.get_stream_metadata(checkpoint_stream(sink))
        assert metadata.get("$maxCount") == 10
        other = CheckpointStore(client, sink)
        other.load()
        store.save(Checkpoint(Position(30)))
        with pytest.raises(AnotherWriter) as caught:
            other.save(Checkpoint(Position(25)))
        assert isinstance(caught.value, PermanentError)
        assert str(caught.value) == (
            f"another engine is writing the checkpoints of sink {sink} "
            f"($connectors/{sink}/checkpoints moved past version 1); this copy stops so "
            "that the sink is not delivered twice"
        )
    finally:
        client.close()


def test_reset_targets(kurrentdb) -> None:  # type: ignore[no-untyped-def]
    sink = kurrentdb.unique("sink")
    positions = append(kurrentdb, kurrentdb.unique("s"), 2)
    assert reset(kurrentdb.url, sink, 1234) == Checkpoint(Position(1234))
    assert reset(kurrentdb.url, sink, "earliest") == Checkpoint(None)
    latest = reset(kurrentdb.url, sink, "latest")
    assert latest.position is not None and latest.position.log_position >= positions[-1]
    client = KurrentClient(kurrentdb.url)
    try:
        assert CheckpointStore(client, sink).load() == latest
    finally:
        client.close()
    with pytest.raises(PermanentError):
        reset(kurrentdb.url, sink, -5)
