"""plan(): a pure comparison of two name → definition maps on canonical settings."""

from __future__ import annotations

from engine.specification.model import Location, SinkDefinition
from engine.supervisor.plan import plan


def sink(name: str, topic: str = "t", **extra: object) -> SinkDefinition:
    settings = {"instanceTypeName": "kafka-sink", "topic": topic, **extra}
    return SinkDefinition.from_canonical(name, settings, source_file=f"sinks.d/{name}.yaml")


def test_sorts_every_name_into_one_bucket() -> None:
    current = {"a": sink("a"), "b": sink("b"), "c": sink("c")}
    desired = {"b": sink("b"), "c": sink("c", topic="other"), "d": sink("d")}
    p = plan(current, desired)
    assert [d.name for d in p.added] == ["d"]
    assert [d.name for d in p.removed] == ["a"]
    assert [(c.name, c.old.settings.topic, c.new.settings.topic) for c in p.changed] == [
        ("c", "t", "other")
    ]
    assert [d.name for d in p.unchanged] == ["b"]
    assert not p.is_empty
    assert p.summary() == "+d ~c -a =1 unchanged"


def test_formatting_and_location_changes_are_not_changes() -> None:
    old = sink("a")
    moved = SinkDefinition.from_canonical(
        "a",
        {"topic": "t", "instanceTypeName": "kafka-sink"},  # other key order
        source_file="sinks.d/elsewhere.yaml",
        explicit=frozenset({"topic"}),
        description="now with a description",
        locations={"topic": Location("sinks.d/elsewhere.yaml", 9, 3)},
    )
    p = plan({"a": old}, {"a": moved})
    assert p.is_empty
    # the newer definition is kept so the status shows where the sink lives now
    assert p.unchanged[0].source_file == "sinks.d/elsewhere.yaml"


def test_nested_setting_and_enabled_flag_are_changes() -> None:
    headers_a = sink("a", defaultHeaders={"x": "1"})
    headers_b = sink("a", defaultHeaders={"x": "2"})
    assert [c.name for c in plan({"a": headers_a}, {"a": headers_b}).changed] == ["a"]
    disabled = SinkDefinition.from_canonical("a", headers_a.canonical, enabled=False)
    assert [c.name for c in plan({"a": headers_a}, {"a": disabled}).changed] == ["a"]


def test_is_pure_and_ordered() -> None:
    current = {n: sink(n) for n in ("z", "m", "a")}
    desired = {n: sink(n, topic="x") for n in ("m", "a", "q")}
    first = plan(current, desired)
    second = plan(dict(current), dict(desired))
    assert first == second
    assert [c.name for c in first.changed] == ["a", "m"]
    assert [d.name for d in first.removed] == ["z"]
    assert set(current) == {"z", "m", "a"}  # inputs untouched


def test_empty_sides() -> None:
    assert plan({}, {}).is_empty
    assert plan({}, {}).summary() == "=0 unchanged"
    assert [d.name for d in plan({}, {"a": sink("a")}).added] == ["a"]
    assert [d.name for d in plan({"a": sink("a")}, {}).removed] == ["a"]
