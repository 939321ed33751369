"""The ``topic`` setting read as a template and filled per event."""

from __future__ import annotations

import pytest

from engine.specification.topics import MAX_TOPIC_LENGTH, TopicError, parse_topic

PLACEHOLDERS = "{stream}, {category}, {streamSuffix}, {eventType}, {metadata:KEY}"


@pytest.mark.parametrize(
    ("template", "stream", "expected"),
    [
        ("orders", "order-17", "orders"),  # no placeholder: the name as it is
        ("es.{category}", "order-17", "es.order"),
        ("es.{category}", "order-17-b", "es.order"),  # before the first '-'
        ("es.{category}", "order", "es.order"),  # no '-': the whole name
        ("id.{streamSuffix}", "order-17-b", "id.b"),  # after the last '-'
        ("id.{streamSuffix}", "order", "id.order"),
        ("s.{stream}", "order-17", "s.order-17"),
        ("{category}.{eventType}", "order-17", "order.OrderPlaced"),
        ("t.{metadata:tenant}", "order-17", "t.acme"),
        ("t.{metadata:region}", "order-17", "t.7"),  # non-string JSON in compact JSON
    ],
)
def test_each_placeholder_is_filled_from_the_event(
    template: str, stream: str, expected: str
) -> None:
    metadata = {"tenant": "acme", "region": 7}
    assert parse_topic(template).topic_of(stream, "OrderPlaced", metadata) == expected


def test_a_template_knows_whether_it_routes() -> None:
    assert not parse_topic("orders").routed
    assert parse_topic("es.{category}").routed


@pytest.mark.parametrize(
    ("template", "message", "unknown"),
    [
        (
            "es.{categroy}",
            f"unknown placeholder '{{categroy}}'; the placeholders are {PLACEHOLDERS}",
            "categroy",
        ),
        ("es.{category", "the placeholder at character 4 is not closed with '}'", None),
        ("es.category}", "a '}' at character 12 closes no placeholder", None),
        ("es.{}", f"an empty placeholder '{{}}': the placeholders are {PLACEHOLDERS}", None),
        ("es.{metadata:}", "{metadata:} names no key: write {metadata:KEY}", None),
        ("..", "a topic name cannot be '.' or '..'", None),
        ("x" * 250, "a topic name has at most 249 characters, this one 250", None),
        ("x" * 250 + "{stream}", "its fixed parts alone are longer than 249 characters", None),
    ],
)
def test_a_template_that_cannot_be_read_says_why(
    template: str, message: str, unknown: str | None
) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topic(template)
    assert str(caught.value) == message
    assert caught.value.unknown == unknown


@pytest.mark.parametrize(
    ("template", "stream", "metadata", "message"),
    [
        (
            "es.{stream}",
            "order 17",
            {},
            "topic 'es.{stream}' gives 'es.order 17' for this event: Kafka refuses the "
            "character(s) ' '",
        ),
        (
            "{category}",
            "-17",
            {},
            "topic '{category}' gives '' for this event: a topic name cannot be empty",
        ),
        (
            "{streamSuffix}",
            "a-.",
            {},
            "topic '{streamSuffix}' gives '.' for this event: a topic name cannot be '.' or '..'",
        ),
        (
            "t.{metadata:tenant}",
            "order-1",
            {},
            "topic 't.{metadata:tenant}': the event's metadata has no key 'tenant'",
        ),
        (
            "{stream}",
            "x" * (MAX_TOPIC_LENGTH + 1),
            {},
            f"topic '{{stream}}' gives '{'x' * 250}' for this event: a topic name has at "
            "most 249 characters, this one 250",
        ),
    ],
)
def test_an_event_whose_topic_cannot_be_made_says_why(
    template: str, stream: str, metadata: dict[str, str], message: str
) -> None:
    with pytest.raises(TopicError) as caught:
        parse_topic(template).topic_of(stream, "E", metadata)
    assert str(caught.value) == message


def test_a_name_once_checked_is_not_checked_again() -> None:
    template = parse_topic("es.{category}")
    assert template.topic_of("order-1", "E", {}) == "es.order"
    assert "es.order" in template._checked
    # A bad name is never remembered: every such event is refused.
    for _ in range(2):
        with pytest.raises(TopicError):
            template.topic_of("or der-1", "E", {})
    assert list(template._checked) == ["es.order"]
