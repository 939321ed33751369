"""Per-sink differences of canonical settings, masked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.config.diff import ChangeKind, diff_definitions, format_text, to_json
from engine.specification.model import SinkDefinition

BASE = {"topic": "orders", "bootstrapServers": "localhost:9092", "compression:type": "Zstd"}


def sink(name: str, **settings: Any) -> SinkDefinition:
    values = {**BASE, **settings}
    return SinkDefinition.from_canonical(name, values, source_file=f"sinks.d/{name}.yaml")


def mask(definition: SinkDefinition) -> Mapping[str, Any]:
    shown = definition.plain_canonical()
    if "authentication:password" in shown:
        shown["authentication:password"] = "***"
    return shown


def test_identical_sets_have_no_difference() -> None:
    result = diff_definitions([sink("a"), sink("b")], [sink("b"), sink("a")], mask=mask)
    assert result.empty
    assert format_text(result, "x", "y") == "no differences between x and y\n"


def test_added_removed_and_changed_sinks_and_keys() -> None:
    before = [sink("a"), sink("gone"), sink("c", **{"defaultHeaders": {"X-A": "1", "X-B": "2"}})]
    after = [
        sink("a", **{"compression:type": "Gzip", "compression:level": 3}),
        sink("new"),
        sink("c", **{"defaultHeaders": {"X-A": "1", "X-C": "3"}}),
    ]
    result = diff_definitions(before, after, mask=mask)
    assert [(s.name, s.kind) for s in result.sinks] == [
        ("a", ChangeKind.CHANGED),
        ("c", ChangeKind.CHANGED),
        ("gone", ChangeKind.REMOVED),
        ("new", ChangeKind.ADDED),
    ]
    assert format_text(result, "before", "after") == (
        "--- before\n"
        "+++ after\n"
        "~ sink a (2 changed)\n"
        "    + compression:level: 3\n"
        '    ~ compression:type: "Zstd" -> "Gzip"\n'
        "~ sink c (2 changed)\n"
        '    - defaultHeaders:X-B: "2"\n'
        '    + defaultHeaders:X-C: "3"\n'
        "- sink gone (removed, was sinks.d/gone.yaml)\n"
        "+ sink new (added, sinks.d/new.yaml)\n"
        "1 added, 1 removed, 2 changed\n"
    )


def test_enabled_description_and_labels_count() -> None:
    a = SinkDefinition.from_canonical("s", BASE, labels={"team": "x"}, description="d1")
    b = SinkDefinition.from_canonical(
        "s", BASE, enabled=False, labels={"team": "y"}, description="d1"
    )
    (change,) = diff_definitions([a], [b], mask=mask).sinks
    assert [(k.key, k.before, k.after) for k in change.keys] == [
        ("enabled", True, False),
        ("labels:team", "x", "y"),
    ]


def test_a_changed_password_shows_as_changed_but_masked() -> None:
    before = [sink("a", **{"authentication:password": "old-pw-value"})]
    after = [sink("a", **{"authentication:password": "new-pw-value"})]
    result = diff_definitions(before, after, mask=mask)
    text = format_text(result, "b", "a")
    assert '~ authentication:password: "***" -> "***"' in text
    assert "old-pw-value" not in text and "new-pw-value" not in text
    assert "pw-value" not in repr(to_json(result, "b", "a"))


def test_json_form() -> None:
    result = diff_definitions([sink("a")], [sink("a", topic="other")], mask=mask)
    assert to_json(result, "dev", "prod") == {
        "before": "dev",
        "after": "prod",
        "differences": True,
        "sinks": [
            {
                "name": "a",
                "change": "changed",
                "before_file": "sinks.d/a.yaml",
                "after_file": "sinks.d/a.yaml",
                "keys": [
                    {"key": "topic", "change": "changed", "before": "orders", "after": "other"}
                ],
            }
        ],
    }
