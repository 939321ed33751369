"""CloudEvents headers and W3C trace context, read back by clients this project did not
write: the CloudEvents SDK's Kafka binding and OpenTelemetry's propagator."""

from __future__ import annotations

import json

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from engine.mapping.headers import traceparent_of
from engine.mapping.pipeline import Mapper
from engine.specification.model import Message
from tests.mapping.helpers import js, record, settings

TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN = 0x00F067AA0BA902B7


def as_cloud_event(message: Message):  # type: ignore[no-untyped-def]
    return from_binary_event(
        KafkaMessage(
            headers={name: value for name, value in message.headers},
            key=message.key,
            value=message.value,
        )
    )


def test_the_cloudevents_sdk_reads_the_event_back() -> None:
    mapper = Mapper("orders", settings(headers__cloudEvents=True))
    message = mapper(record(stream="order-17", data=b'{"total":12}'))
    assert message is not None
    event = as_cloud_event(message)
    assert event.get_id() == "0b4bd0c6-8a2e-4c1e-9a57-2d3a1b7e9f10"
    assert event.get_source() == "/streams/order-17"
    assert event.get_type() == "OrderPlaced"
    assert event.get_specversion() == "1.0"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_time().isoformat(timespec="milliseconds") == "2023-11-14T22:13:20.123+00:00"
    assert event.get_data() == {"total": 12}


def test_the_source_takes_placeholders_and_a_transformer_s_subject_is_the_type() -> None:
    mapper = Mapper(
        "orders",
        settings(
            headers__cloudEvents=True,
            headers__cloudEventsSource="urn:shop:{metadata:tenant}:{category}",
            transformer__enabled=True,
            transformer__function=js("function transform(r) { r.schemaInfo.subject = 'v2'; }"),
        ),
    )
    try:
        [message] = mapper.map_batch([record(metadata=b'{"tenant":"acme"}')])
    finally:
        mapper.close()
    assert message is not None
    event = as_cloud_event(message)
    assert (event.get_source(), event.get_type()) == ("urn:shop:acme:order", "v2")


def test_without_the_setting_there_are_no_cloudevents_headers() -> None:
    message = Mapper("orders", settings())(record())
    assert message is not None
    assert not [name for name, _ in message.headers if name.startswith("ce_")]


def test_opentelemetry_s_propagator_extracts_the_trace_the_metadata_carried() -> None:
    # As esdbclient's instrumentation writes them: 0x-prefixed hex.
    metadata = json.dumps({"$traceId": f"{TRACE:#x}", "$spanId": f"{SPAN:#x}"}).encode()
    message = Mapper("orders", settings())(record(metadata=metadata))
    assert message is not None
    carrier = {name: value.decode() for name, value in message.headers}
    context = get_current_span(TraceContextTextMapPropagator().extract(carrier)).get_span_context()
    assert (context.trace_id, context.span_id, context.is_remote) == (TRACE, SPAN, True)
    # The $ keys themselves stay out (headers:ignoreSystem), the trace goes on.
    assert not [name for name in carrier if name.startswith("esdb-record-headers-$")]


def test_traceparent_can_be_turned_off() -> None:
    metadata = json.dumps({"$traceId": f"{TRACE:#x}", "$spanId": f"{SPAN:#x}"}).encode()
    message = Mapper("orders", settings(headers__traceparent=False))(record(metadata=metadata))
    assert message is not None and "traceparent" not in dict(message.headers)


W3C = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("trace", "span", "expected"),
    [
        ("0x1", "0x2", b"00-" + b"0" * 31 + b"1-" + b"0" * 15 + b"2-01"),  # padded
        ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", W3C),  # plain 32/16 hex
        ("4bf92f35-77b3-4da6-a3ce-929d0e0e4736", "0x00f067aa0ba902b7", W3C),  # dashed
        ("0x0", "0x2", None),  # an all-zero id is invalid in W3C trace context
        ("not hex", "0x2", None),
        ("0x" + "f" * 33, "0x2", None),  # longer than 128 bits
        (None, "0x2", None),
    ],
)
def test_traceparent_of_reads_the_forms_the_clients_write(
    trace: str | None, span: str, expected: bytes | None
) -> None:
    metadata = {"$spanId": span} | ({"$traceId": trace} if trace is not None else {})
    assert traceparent_of(metadata) == expected
