"""Against the real broker: a trace started before the database goes on in Kafka, and
each message reads back as a CloudEvent.

The event is appended through the client with its own OpenTelemetry instrumentation
on, which writes ``$traceId`` / ``$spanId`` into the event's metadata; a sink with
``headers:cloudEvents`` delivers it; OpenTelemetry's W3C propagator and the CloudEvents
SDK's Kafka binding, neither written here, read the message back.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fixtures.kurrentdb_library import StreamState
from tests.integration.sinkkit import definition, run_until_delivered, unique_name
from tests.support.writers import event

pytestmark = pytest.mark.integration


def test_the_trace_and_the_cloudevent_reach_kafka(kafka_broker: Any, kurrentdb: Any) -> None:
    instrumentation = pytest.importorskip("esdbclient.instrumentation.opentelemetry")
    from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from engine.adapters.kurrentdb import LIBRARY

    if LIBRARY != "esdbclient":
        pytest.skip("the instrumentation used here is esdbclient's")
    topic = f"ce-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic)
    name = unique_name()
    provider = TracerProvider()
    instrumentor = instrumentation.EventStoreDBClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = kurrentdb.client()
        with provider.get_tracer("test").start_as_current_span("place order") as span:
            client.append_to_stream(
                f"{name}-order-7", current_version=StreamState.ANY, events=[event(1, key="a")]
            )
        started = span.get_span_context()
    finally:
        instrumentor.uninstrument()
    run_until_delivered(
        definition(name, topic, kafka_broker.bootstrap, **{"headers:cloudEvents": True}),
        kurrentdb.url,
        1,
    )
    [message] = kafka_broker.consume(topic, 1)
    carrier = {key: value.decode() for key, value in message.headers}
    carried = get_current_span(TraceContextTextMapPropagator().extract(carrier)).get_span_context()
    assert carried.trace_id == started.trace_id  # the same trace, on through Kafka
    assert carried.span_id != 0 and carried.is_remote
    cloud = from_binary_event(
        KafkaMessage(headers=dict(message.headers), key=message.key, value=message.value)
    )
    assert cloud.get_source() == f"/streams/{name}-order-7"
    assert cloud.get_type() == "Counted"
    assert cloud.get_id() == carrier["esdb-record-id"]
    assert cloud.get_data() == {"n": 1, "key": "a"}
