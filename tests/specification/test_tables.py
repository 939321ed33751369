"""The Markdown settings tables: parsing, agreement with the typed view, masking."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path

import pytest

from engine.config.masking import MASK, mask_settings, sensitive_keys
from engine.specification import settings as typed
from engine.specification.errors import ConfigError
from engine.specification.tables import (
    TABLES_DIR,
    SettingType,
    load_catalogue,
    parse_tables,
)

HEADER = (
    "| Key | Type | Default | Required | Sensitive | Accepted values | Origin | Description |\n"
    "|---|---|---|---|---|---|---|---|\n"
)

CANONICAL_ENUMS: dict[str, type[enum.Enum]] = {
    "authentication:securityProtocol": typed.SecurityProtocol,
    "authentication:saslMechanism": typed.SaslMechanism,
    "partitionKeyExtraction:source": typed.PartitionKeySource,
    "brokerAddressFamily": typed.BrokerAddressFamily,
    "compression:type": typed.CompressionType,
    "subscription:filter:scope": typed.FilterScope,
    "subscription:filter:filterType": typed.FilterType,
    "subscription:initialPosition": typed.InitialPosition,
    "errors:tolerance": typed.ErrorTolerance,
}

CANONICAL_KEYS = {
    "topic", "bootstrapServers", "defaultHeaders", "authentication:securityProtocol",
    "authentication:saslMechanism", "authentication:username", "authentication:password",
    "authentication:caFile", "partitionKeyExtraction:enabled", "partitionKeyExtraction:source",
    "partitionKeyExtraction:expression", "waitForBrokerAck", "resilience:enabled",
    "resilience:maxRetries", "resilience:transientErrorDelay",
    "resilience:reconnectBackoffMaxMs", "resilience:messageSendMaxRetries",
    "resilience:requestTimeoutMs", "brokerAddressFamily", "compression:type",
    "compression:level", "instanceTypeName", "subscription:filter:scope",
    "subscription:filter:filterType", "subscription:filter:expression",
    "subscription:initialPosition", "transformer:enabled", "transformer:function",
    "autocommit:enabled", "autocommit:interval", "autocommit:recordsThreshold",
    "logging:enabled", "headers:ignoreSystem", "errors:tolerance", "errors:deadLetterTopic",
    "headers:cloudEvents", "headers:cloudEventsSource", "headers:traceparent",
    "topics:create", "topics:partitions", "topics:replicationFactor", "topics:config",
    "delivery:guarantee",
}  # fmt: skip


def test_tables_describe_exactly_the_canonical_keys() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.keys) == CANONICAL_KEYS
    assert len(catalogue.keys) == len(CANONICAL_KEYS)
    assert {s.key for s in catalogue.specs if s.required} == {"topic", "instanceTypeName"}


@pytest.mark.parametrize("key", sorted(CANONICAL_ENUMS))
def test_enum_values_are_the_canonical_spellings(key: str) -> None:
    spec = load_catalogue()[key]
    assert spec.type is SettingType.ENUM
    assert spec.accepted == tuple(member.value for member in CANONICAL_ENUMS[key])


def test_defaults_agree_with_the_typed_settings_view() -> None:
    defaults = {f.name: f for f in dataclasses.fields(typed.SinkSettings)}
    catalogue = load_catalogue()
    probe = {s.key: s.default for s in catalogue.specs if s.has_default}
    view = typed.SinkSettings.from_canonical({"topic": "t", **probe})
    for name, field in defaults.items():
        if name == "topic":
            continue
        expected = field.default_factory() if callable(field.default_factory) else field.default
        assert getattr(view, name) == expected, name


def test_facts_from_kurrentdb_documentation_and_newer_versions() -> None:
    c = load_catalogue()
    assert c["bootstrapServers"].default == "localhost:9092"
    assert c["compression:type"].default == "Zstd"
    assert c["compression:level"].default == 6
    assert c["brokerAddressFamily"].default == "V4"
    assert c["resilience:messageSendMaxRetries"].default == 2147483647
    assert c["resilience:transientErrorDelay"].type is SettingType.TIMESPAN
    assert c["defaultHeaders"].type is SettingType.DICT
    assert c["partitionKeyExtraction:source"].default == "PartitionKey"
    assert c["authentication:saslMechanism"].origin == "KurrentDB (newer)"
    assert c["authentication:caFile"].origin == "engine"
    assert c["instanceTypeName"].accepted == ("kafka-sink",)
    assert c.find("COMPRESSION:TYPE") is c["compression:type"]
    assert "subscription:filter" in c.groups


def test_every_origin_is_one_a_reader_can_place() -> None:
    # The Origin column says where a setting comes from in words a user knows: the
    # legend in schema/kafka-sink.md explains exactly these values.
    origins = {spec.origin for spec in load_catalogue().specs}
    assert origins == {"KurrentDB", "KurrentDB (newer)", "KurrentDB (all sinks)", "engine"}
    legend = (TABLES_DIR / "kafka-sink.md").read_text() + (TABLES_DIR / "common.md").read_text()
    assert all(f"`{origin}`" in legend for origin in origins)


def test_rows_point_back_to_their_table_line() -> None:
    spec = load_catalogue()["topic"]
    lines = (TABLES_DIR / "kafka-sink.md").read_text().splitlines()
    assert spec.source.path.endswith("kafka-sink.md")
    assert lines[spec.source.line - 1].startswith("| `topic` |")


def test_prose_and_other_tables_are_ignored() -> None:
    text = (
        "# Title\n\n| Name | Value |\n|---|---|\n| a | b |\n\n"
        + HEADER
        + ("| `x:y` | int | `3` | no | no | `0..9` | engine | An x. |\n")
    )
    specs, problems = parse_tables(text, "t.md")
    assert problems == []
    assert [(s.key, s.default, s.minimum, s.maximum, s.source.line) for s in specs] == [
        ("x:y", 3, 0, 9, 9)
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("| `a` | float | — | no | no | | x | d |", "unknown type 'float'; use one of string, "
         "int, boolean, dict<string,string>, TimeSpan, enum"),
        ("| `a` | int | `six` | no | no | | x | d |", "invalid literal for int() with base 10: "
         "'six'"),
        ("| `a` | enum | — | no | no | | x | d |", "an enum needs its accepted values, each in "
         "backticks"),
        ("| `a` | enum | `C` | no | no | `A`, `B` | x | d |", "default 'C' is not one of the "
         "accepted values"),
        ("| `a` | int | `20` | no | no | `0..12` | x | d |", "default 20 is outside 0..12"),
        ("| `a` | TimeSpan | `5s` | no | no | | x | d |", "default '5s' is not a TimeSpan "
         "(hh:mm:ss)"),
        ("| `a` | string | `x` | yes | no | | x | d |", "a required setting cannot have a "
         "default"),
        ("| `a` | boolean | `true` | maybe | no | | x | d |", "Required and Sensitive must be "
         "yes or no"),
        ("| `a b` | string | — | no | no | | x | d |", "'a b' is not a setting key (letters "
         "and digits, ':' between parts)"),
        ("| `a` | string | — | no | no |", "row has 5 cells, the header has 8"),
    ],
)  # fmt: skip
def test_broken_rows_are_reported_with_their_line(row: str, message: str) -> None:
    specs, problems = parse_tables("intro\n\n" + HEADER + row + "\n", "schema/x.md")
    assert specs == []
    assert [(p.location.format() if p.location else "", p.message) for p in problems] == [
        ("schema/x.md:5", message)
    ]


def test_a_folder_with_contradicting_tables_raises_every_problem(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(HEADER + "| `k` | string | — | no | no | | x | d |\n")
    (tmp_path / "b.md").write_text(
        HEADER
        + "| `K` | string | — | no | no | | x | d |\n"
        + "| `k:sub` | string | — | no | no | | x | d |\n"
        + "| `n` | nope | — | no | no | | x | d |\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_catalogue(tmp_path)
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    assert [d.format() for d in caught.value.diagnostics] == [
        f"{b}:5: error: n: unknown type 'nope'; use one of string, int, boolean, "
        "dict<string,string>, TimeSpan, enum",
        f"{b}:3: error: K: described twice (first at {a}:3)",
        f"{b}:4: error: k:sub: a setting cannot also be a group of settings",
    ]


def test_an_edited_table_is_read_again(tmp_path: Path) -> None:
    table = tmp_path / "t.md"
    table.write_text(HEADER + "| `k` | int | `1` | no | no | | x | d |\n")
    assert load_catalogue(tmp_path)["k"].default == 1
    table.write_text(HEADER + "| `k` | int | `22` | no | no | | x | d |\n")
    assert load_catalogue(tmp_path)["k"].default == 22


# --- masking: the Sensitive column decides


def test_sensitive_keys_come_from_the_tables() -> None:
    assert sensitive_keys() == frozenset({"authentication:password"})


def test_mask_settings_hides_sensitive_values_in_every_form() -> None:
    original = {
        "topic": "orders",
        "authentication:password": "hunter2",
        "Authentication:PASSWORD": "again",
        "authentication": {"password": "nested", "username": "app"},
        "defaultHeaders": {"X-Token": "t0k3n"},
    }
    masked = mask_settings(original)
    assert masked == {
        "topic": "orders",
        "authentication:password": MASK,
        "Authentication:PASSWORD": MASK,
        "authentication": {"password": MASK, "username": "app"},
        "defaultHeaders": {"X-Token": "t0k3n"},
    }
    assert original["authentication:password"] == "hunter2"  # the input is left alone
    assert mask_settings(original, extra=["defaultHeaders:X-Token", "TOPIC"]) == {
        **masked,
        "topic": MASK,
        "defaultHeaders": {"X-Token": MASK},
    }


def test_unset_secrets_stay_visible_as_unset() -> None:
    assert mask_settings({"authentication:password": ""}) == {"authentication:password": ""}
    assert mask_settings({"authentication:password": None}) == {"authentication:password": None}
