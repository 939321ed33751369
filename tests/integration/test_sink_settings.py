"""One test per sink setting, showing its effect on the produced messages or the producer.

Each test runs a real sink (SinkWorker) from KurrentDB (stand-in, or KURRENTDB_URL) into
the real broker and reads the topic back.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from engine.adapters.kafka import KafkaProducer
from engine.adapters.kurrentdb import KurrentClient
from engine.runtime.checkpoints import CheckpointStore
from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, SinkState
from engine.specification.errors import EngineError, PermanentError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings
from tests.fixtures.kurrentdb_library import StreamState
from tests.integration.sinkkit import Recorder, definition, run_until_delivered, unique_name
from tests.support.waits import came_true
from tests.support.writers import append_numbered, event

pytestmark = pytest.mark.integration


def sink_run(kafka_broker, kurrentdb, topic, events, count=None, partitions=1, **settings):  # type: ignore[no-untyped-def]
    """Append ``events`` (stream suffix → list of NewEvent) and run a sink over them."""
    kafka_broker.create_topic(topic, partitions=partitions)
    name = unique_name()
    client = kurrentdb.client()
    total = 0
    for suffix, batch in events.items():
        client.append_to_stream(f"{name}-{suffix}", current_version=StreamState.ANY, events=batch)
        total += len(batch)
    run_until_delivered(
        definition(name, topic, settings.pop("bootstrap", kafka_broker.bootstrap), **settings),
        kurrentdb.url,
        count or total,
    )
    return name, kafka_broker.consume(topic, count or total)


def headers_of(consumed) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return dict(consumed.headers)


# -- partition key -----------------------------------------------------------------------


def test_partition_key_defaults_to_none(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    _, got = sink_run(kafka_broker, kurrentdb, topic, {"user-1": [event(0, key="a")]})
    assert got[0].key is None


def test_partition_key_from_stream_with_expression(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    name, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        {"acct_data": [event(0, key="a")]},
        **{
            "partitionKeyExtraction:enabled": True,
            "partitionKeyExtraction:source": "Stream",
            "partitionKeyExtraction:expression": "^(.*)_data$",
        },
    )
    assert got[0].key == f"{name}-acct".encode()


def test_partition_key_from_stream_suffix(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    _, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        {"user-123": [event(0, key="a")]},
        **{"partitionKeyExtraction:enabled": True, "partitionKeyExtraction:source": "StreamSuffix"},
    )
    assert got[0].key == b"123"


def test_partition_key_from_headers(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    _, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        {"x": [event(0, key="a", metadata={"key1": "value1", "key2": "value2"})]},
        **{
            "partitionKeyExtraction:enabled": True,
            "partitionKeyExtraction:source": "Headers",
            "partitionKeyExtraction:expression": "key1,key2",
        },
    )
    assert got[0].key == b"value1-value2"


def test_same_key_same_partition(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    events = {f"user-{u}": [event(i, key=str(u)) for i in range(5)] for u in range(6)}
    _, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        events,
        partitions=3,
        **{"partitionKeyExtraction:enabled": True, "partitionKeyExtraction:source": "StreamSuffix"},
    )
    partitions_by_key: dict[bytes | None, set[int]] = {}
    for consumed in got:
        partitions_by_key.setdefault(consumed.key, set()).add(consumed.partition)
    assert len(partitions_by_key) == 6
    assert all(len(p) == 1 for p in partitions_by_key.values())
    assert len({p for ps in partitions_by_key.values() for p in ps}) > 1  # spread over partitions
    for key in partitions_by_key:  # and in order within the key
        numbers = [json.loads(c.value)["n"] for c in got if c.key == key]
        assert numbers == sorted(numbers) == list(range(5))


# -- headers, value, timestamp -------------------------------------------------------------


def test_default_headers_and_record_headers(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    name, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        {"s": [event(0, key="a", metadata={"tenant": "acme", "$correlationId": "c-1"})]},
        defaultHeaders={"X-Team": "payments"},
    )
    headers = headers_of(got[0])
    assert headers["X-Team"] == b"payments"
    assert headers["esdb-record-stream-id"] == f"{name}-s".encode()
    assert headers["esdb-record-schema-subject"] == b"Counted"
    assert headers["esdb-record-headers-tenant"] == b"acme"
    assert "esdb-record-headers-$correlationId" not in headers
    for header in (
        "esdb-record-id",
        "esdb-record-timestamp",
        "esdb-record-stream-revision",
        "esdb-record-log-position",
        "esdb-record-schema-type",
    ):
        assert header in headers, header


def test_system_headers_when_not_ignored(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    _, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        {"s": [event(0, key="a", metadata={"$correlationId": "c-1"})]},
        **{"headers:ignoreSystem": False},
    )
    assert headers_of(got[0])["esdb-record-headers-$correlationId"] == b"c-1"


def test_value_and_timestamp_come_from_the_event(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    name, got = sink_run(
        kafka_broker, kurrentdb, topic, {"s": [event(7, key="a", data={"n": 7, "key": "a"})]}
    )
    recorded = kurrentdb.client().get_stream(f"{name}-s")[0]
    assert got[0].value == recorded.data == b'{"n": 7, "key": "a"}'
    assert got[0].timestamp_ms == int(recorded.recorded_at.timestamp() * 1000)


def test_transformer_changes_the_value(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    script = "function transform(record) { record.value.n = record.value.n * 10; }"
    _, got = sink_run(
        kafka_broker,
        kurrentdb,
        topic,
        {"s": [event(4, key="a")]},
        **{
            "transformer:enabled": True,
            "transformer:function": base64.b64encode(script.encode()).decode(),
        },
    )
    assert json.loads(got[0].value)["n"] == 40
    assert headers_of(got[0])["esdb-record-is-transformed"] == b"true"


# -- producer settings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "codec"),
    [("None", "none"), ("Gzip", "gzip"), ("Snappy", "snappy"), ("Lz4", "lz4"), ("Zstd", "zstd")],
)
def test_compression_type_of_stored_batches(kafka_broker, kurrentdb, topic, setting, codec) -> None:  # type: ignore[no-untyped-def]
    events = {"s": [event(i, key="a", size=200) for i in range(20)]}
    sink_run(kafka_broker, kurrentdb, topic, events, **{"compression:type": setting})
    assert kafka_broker.batch_codecs(topic) == {codec}


def _producer_stats(kafka_broker, topic: str, wait_for_ack: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    reports: list[EngineError | None] = []
    stats: list[str] = []

    def on_error(_token: int, error: EngineError) -> None:
        reports.append(error)

    settings = SinkSettings.from_canonical(
        {
            "topic": topic,
            "bootstrapServers": kafka_broker.bootstrap,
            "waitForBrokerAck": wait_for_ack,
        }
    )
    producer = KafkaProducer(
        settings,
        lambda _t: reports.append(None),
        on_error,
        extra={"statistics.interval.ms": 100, "stats_cb": stats.append},
    )
    producer.produce(Message(topic, b"k", b"v", (), 0, 1), 1)
    producer.flush(20)
    assert reports == [None]
    assert came_true(lambda: producer.poll(0.1) >= 0 and len(stats) >= 2, 10)
    return dict(json.loads(stats[-1]))


def test_wait_for_broker_ack(kafka_broker, topic) -> None:  # type: ignore[no-untyped-def]
    # true: acks=all with the idempotent producer, which gets a producer id from the
    # broker and numbers its batches; false: leader ack only, no producer id.
    kafka_broker.create_topic(topic)
    acked = _producer_stats(kafka_broker, topic, wait_for_ack=True)
    assert acked["eos"]["idemp_state"] == "Assigned"
    assert acked["eos"]["producer_id"] >= 0
    plain = _producer_stats(kafka_broker, topic, wait_for_ack=False)
    assert "eos" not in plain


@pytest.mark.parametrize(
    ("listener", "protocol", "mechanism", "setting"),
    [
        ("SASL_PLAINTEXT", "SaslPlaintext", "PLAIN", "Plain"),
        ("SASL_PLAINTEXT", "SaslPlaintext", "SCRAM-SHA-256", "ScramSha256"),
        ("SASL_PLAINTEXT", "SaslPlaintext", "SCRAM-SHA-512", "ScramSha512"),
        ("SASL_SSL", "SaslSsl", "SCRAM-SHA-512", "ScramSha512"),
        ("SASL_SSL", "SaslSsl", "PLAIN", "Plain"),
    ],
)
def test_authentication_per_listener(
    kafka_broker, kurrentdb, topic, listener, protocol, mechanism, setting
) -> None:  # type: ignore[no-untyped-def]
    bootstrap = kafka_broker.bootstrap_for(listener)  # skips when not offered
    user, password = kafka_broker.credentials(mechanism)
    settings: dict[str, Any] = {
        "bootstrap": bootstrap,
        "authentication:securityProtocol": protocol,
        "authentication:saslMechanism": setting,
        "authentication:username": user,
        "authentication:password": password,
    }
    if listener.endswith("SSL"):
        settings["authentication:caFile"] = str(kafka_broker.ca_file)
    _, got = sink_run(kafka_broker, kurrentdb, topic, {"s": [event(0, key="a")]}, **settings)
    assert json.loads(got[0].value)["n"] == 0


def test_wrong_password_fails_the_sink(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    bootstrap = kafka_broker.bootstrap_for("SASL_PLAINTEXT")  # skips when not offered
    user, _ = kafka_broker.credentials("SCRAM-SHA-256")
    kafka_broker.create_topic(topic)
    name = unique_name()
    append_numbered(kurrentdb.client(), name, 3)
    worker = SinkWorker(
        definition(
            name,
            topic,
            bootstrap,
            **{
                "authentication:securityProtocol": "SaslPlaintext",
                "authentication:saslMechanism": "ScramSha256",
                "authentication:username": user,
                "authentication:password": "not-the-password",
            },
        ),
        Connections(kurrentdb.url),
    )
    worker.start()
    try:
        assert worker.wait_for(SinkState.FAILED, timeout=60), worker.status()
    finally:
        worker.stop(10)
    reason = worker.status().reason or ""
    assert "delivery failed at position" in reason
    assert "Authentication failed" in reason or "AUTHENTICATION" in reason


# -- subscription and checkpoints -------------------------------------------------------------


def test_initial_position_latest_skips_existing_events(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    name = unique_name()
    client = kurrentdb.client()
    append_numbered(client, name, 5, keys=1)
    worker = SinkWorker(
        definition(
            name, topic, kafka_broker.bootstrap, **{"subscription:initialPosition": "Latest"}
        ),
        Connections(kurrentdb.url),
    )
    worker.start()
    try:
        assert worker.wait_for(SinkState.RUNNING, timeout=30)
        append_numbered(client, name, 3, keys=1, start=5)
        assert came_true(lambda: worker.status().delivered >= 3, 30), worker.status()
    finally:
        assert worker.stop(30)
    numbers = [json.loads(c.value)["n"] for c in kafka_broker.consume(topic, 8, timeout=5)]
    assert numbers == [5, 6, 7]


def test_stream_id_filter_reads_one_stream(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    name = unique_name()
    client = kurrentdb.client()
    append_numbered(client, name, 6, keys=2)  # streams <name>-k0 and <name>-k1
    run_until_delivered(
        definition(
            name,
            topic,
            kafka_broker.bootstrap,
            **{
                "subscription:filter:filterType": "StreamId",
                "subscription:filter:expression": f"{name}-k1",
            },
        ),
        kurrentdb.url,
        3,
    )
    numbers = [json.loads(c.value)["n"] for c in kafka_broker.consume(topic, 6, timeout=5)]
    assert numbers == [1, 3, 5]


def test_autocommit_stores_the_delivered_position_and_resumes_after_it(
    kafka_broker, kurrentdb, topic
) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    name = unique_name()
    client = kurrentdb.client()
    positions = append_numbered(client, name, 10, keys=1, batch=1)
    sink = definition(name, topic, kafka_broker.bootstrap, **{"autocommit:recordsThreshold": 3})
    recorder = Recorder()
    status = run_until_delivered(sink, kurrentdb.url, 10, listener=recorder)
    assert status.checkpoint_position == positions[-1]
    assert recorder.checkpoints[-1] == positions[-1]
    assert recorder.checkpoints == sorted(recorder.checkpoints)
    assert (recorder.read, recorder.delivered, recorder.failed) == (10, 10, 0)
    assert len(recorder.latencies) == 10 and all(0 <= s < 30 for s in recorder.latencies)
    assert [state for state, _ in recorder.states] == [
        SinkState.ACTIVATING,
        SinkState.RUNNING,
        SinkState.DEACTIVATING,
        SinkState.STOPPED,
    ]
    store_client = KurrentClient(kurrentdb.url)
    try:
        stored = CheckpointStore(store_client, name).load()
        assert stored is not None and stored.position is not None
        assert stored.position.log_position == positions[-1]
    finally:
        store_client.close()
    append_numbered(client, name, 2, keys=1, start=10)
    run_until_delivered(sink, kurrentdb.url, 2)
    numbers = [json.loads(c.value)["n"] for c in kafka_broker.consume(topic, 13, timeout=5)]
    assert numbers == list(range(12))  # resumed after the checkpoint: no duplicate


def test_autocommit_disabled_writes_no_checkpoint(kafka_broker, kurrentdb, topic) -> None:  # type: ignore[no-untyped-def]
    kafka_broker.create_topic(topic)
    name = unique_name()
    append_numbered(kurrentdb.client(), name, 4, keys=1)
    status = run_until_delivered(
        definition(name, topic, kafka_broker.bootstrap, **{"autocommit:enabled": False}),
        kurrentdb.url,
        4,
    )
    assert status.checkpoint_position is None
    store_client = KurrentClient(kurrentdb.url)
    try:
        assert CheckpointStore(store_client, name).load() is None
    finally:
        store_client.close()


def test_invalid_producer_setting_fails_at_start(kafka_broker, kurrentdb) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentError):
        SinkWorker(
            definition(unique_name(), "t", kafka_broker.bootstrap, **{"compression:level": 99}),
            Connections(kurrentdb.url),
        ).start()
