from __future__ import annotations

import re

import pytest

from engine.specification import naming


def test_control_topics_round_trip_and_stay_within_kafka_s_limits() -> None:
    group, sink = "g" * 100, "s" * 100
    topic = naming.control_topic(group, sink)
    assert topic == f"__sinks-engine.{group}.{sink}"
    assert len(topic) <= 249 and re.fullmatch(r"[A-Za-z0-9._-]+", topic)
    assert naming.sink_of(group, topic) == sink
    assert naming.consumer_group_id("orders-prod") == "sinks-engine.orders-prod"


def test_one_group_s_pattern_never_matches_another_group_s_topics() -> None:
    pattern = re.compile(naming.subscription_pattern("a"))
    assert pattern.match(naming.control_topic("a", "orders"))
    assert pattern.match(naming.control_topic("a", "b.x"))
    assert not pattern.match(naming.control_topic("ab", "orders"))
    assert naming.sink_of("a", "__sinks-engine.ab.orders") is None
    assert naming.sink_of("a", "__sinks-engine.a.") is None


@pytest.mark.parametrize("bad", ["", "a.b", "-a", "a b", "ä", "g" * 101])
def test_group_names_kafka_could_not_use_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(naming.GroupNameError) as caught:
        naming.check_group(bad)
    assert str(caught.value) == (
        f"invalid group name {bad!r}: use 1-100 letters, digits, '_' or '-', "
        "starting with a letter or digit"
    )


def test_a_member_s_client_id_gives_back_its_host_and_pid() -> None:
    client_id = naming.member_client_id("orders", "web-1.example.com", 4242)
    assert client_id == "sinks-engine.orders.web-1.example.com.4242"
    assert naming.member_of_client_id("orders", client_id) == ("web-1.example.com", 4242)
    assert naming.member_of_client_id("other", client_id) == ("", None)
    assert naming.member_of_client_id("orders", "sinks-engine.orders.host.x") == ("host", None)


def test_sink_names_follow_the_one_rule_the_loader_and_the_schema_use() -> None:
    from engine.config.schemagen import sink_document_schema
    from engine.specification.constants import SINK_NAME_PATTERN
    from engine.specification.tables import load_catalogue

    assert naming.SINK_NAME.pattern == SINK_NAME_PATTERN
    schema = sink_document_schema(load_catalogue())
    assert schema["properties"]["name"]["pattern"] == SINK_NAME_PATTERN
