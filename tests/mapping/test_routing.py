"""Per-event topics: a ``topic`` with placeholders, filled by the mapper for each event."""

from __future__ import annotations

from typing import Any

import pytest

from engine.mapping.pipeline import Mapper, TransformError
from engine.runtime.errors_policy import BatchSender, PoisonPolicy
from engine.runtime.worker_api import Cause, IncidentKind
from tests.mapping.helpers import js, record, settings
from tests.support.fake_adapters import RecordingPipeline


def test_each_event_goes_to_its_category_s_topic() -> None:
    mapper = Mapper("all", settings(topic="es.{category}"))
    streams = ["order-1", "customer-7", "order-2", "payment-x-9"]
    messages = mapper.map_batch([record(stream=s, position=i) for i, s in enumerate(streams)])
    assert [m.topic for m in messages if m] == ["es.order", "es.customer", "es.order", "es.payment"]


def test_metadata_and_event_type_placeholders() -> None:
    mapper = Mapper("all", settings(topic="{metadata:tenant}.{eventType}"))
    [message] = mapper.map_batch([record(metadata=b'{"tenant":"acme"}')])
    assert message is not None and message.topic == "acme.OrderPlaced"


def test_a_transformer_s_headers_are_what_metadata_placeholders_read() -> None:
    mapper = Mapper(
        "all",
        settings(
            topic="t.{metadata:tenant}",
            transformer__enabled=True,
            transformer__function=js("function transform(r) { r.headers.tenant = 'moved'; }"),
        ),
    )
    try:
        [message] = mapper.map_batch([record(metadata=b'{"tenant":"acme"}')])
    finally:
        mapper.close()
    assert message is not None and message.topic == "t.moved"


def test_an_event_without_a_topic_fails_with_its_position_and_the_ones_before_are_kept() -> None:
    mapper = Mapper("all", settings(topic="es.{category}"))
    with pytest.raises(TransformError) as caught:
        mapper.map_batch(
            [record(stream="order-1", position=10), record(stream="bad stream-1", position=20)]
        )
    assert caught.value.position == 20
    assert [m.topic if m else None for m in caught.value.completed] == ["es.order"]
    assert str(caught.value) == (
        "sink 'all': topic 'es.{category}' gives 'es.bad stream' for this event: Kafka refuses "
        "the character(s) ' ' (event 0b4bd0c6-8a2e-4c1e-9a57-2d3a1b7e9f10 at position 20 in "
        "'bad stream-1')"
    )


@pytest.mark.parametrize("tolerance", ["fail", "skip", "deadLetter"])
def test_errors_tolerance_decides_what_happens_to_an_event_without_a_topic(
    tolerance: str,
) -> None:
    seen: list[tuple[Any, ...]] = []
    configured = settings(
        topic="es.{metadata:tenant}",
        errors__tolerance=tolerance,
        errors__deadLetterTopic="dlq" if tolerance == "deadLetter" else None,
    )
    poison = PoisonPolicy(configured, "all", lambda *a: seen.append(a))
    pipeline = RecordingPipeline()
    sender = BatchSender(Mapper("all", configured), pipeline, False, poison)  # type: ignore[arg-type]
    records = [
        record(metadata=b'{"tenant":"a"}', position=1),
        record(metadata=b"{}", position=2),  # no tenant: no topic
        record(metadata=b'{"tenant":"b"}', position=3),
    ]
    if tolerance == "fail":
        with pytest.raises(TransformError, match="the event's metadata has no key 'tenant'"):
            sender.send(records)
        assert pipeline.handed == [("es.a", 1)]
        return
    sender.send(records)
    middle = "dlq" if tolerance == "deadLetter" else None
    assert pipeline.handed == [("es.a", 1), (middle, 2), ("es.b", 3)]
    [(kind, cause, reason, position)] = seen
    assert (cause, position) == (Cause.TRANSFORMER, 2)
    assert "the event's metadata has no key 'tenant'" in reason
    assert kind is (IncidentKind.DEAD_LETTERED if middle else IncidentKind.SKIPPED)


def transforming(source: str, **extra: Any) -> Mapper:
    return Mapper(
        "all",
        settings(
            transformer__enabled=True,
            transformer__function=js(source),
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Stream",
            **extra,
        ),
    )


def test_a_transformer_may_choose_the_topic_and_the_key_and_they_win() -> None:
    mapper = transforming(
        "function transform(r) {\n"
        "  if (r.value.total > 10) { r.topic = 'big-orders'; r.key = 'k-' + r.value.total; }\n"
        "  if (r.value.total === 0) { r.key = null; }\n"
        "}",
        topic="es.{category}",
    )
    try:
        big, small, free = mapper.map_batch(
            [
                record(data=b'{"total":12}', position=1),
                record(data=b'{"total":5}', position=2),
                record(data=b'{"total":0}', position=3),
            ]
        )
    finally:
        mapper.close()
    assert big is not None and (big.topic, big.key) == ("big-orders", b"k-12")
    # Untouched: the sink's own topic and key.
    assert small is not None and (small.topic, small.key) == ("es.order", b"order-123")
    assert free is not None and (free.topic, free.key) == ("es.order", None)  # null: no key


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "function transform(r) { r.topic = 'no good'; }",
            "transform set record.topic 'no good': Kafka refuses the character(s) ' '",
        ),
        (
            "function transform(r) { r.topic = 7; }",
            "transform left record.topic that is not a string",
        ),
        (
            "function transform(r) { r.key = {a: 1}; }",
            "transform left record.key that is not a string",
        ),
    ],
)
def test_a_topic_or_key_a_transformer_sets_wrong_fails_that_event(
    source: str, message: str
) -> None:
    mapper = transforming(source, topic="orders")
    try:
        with pytest.raises(TransformError) as caught:
            mapper.map_batch([record(position=9)])
    finally:
        mapper.close()
    assert caught.value.position == 9
    assert message in str(caught.value)
