"""canonicalise(): nested/flat/mixed keys, any case, string values, every error at once."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config.canonical import Canonical, canonicalise
from engine.config.schemagen import canonical_settings_schema
from engine.specification.model import Diagnostic, Location, Severity
from engine.specification.settings import CompressionType, SinkSettings
from engine.specification.tables import load_catalogue
from tests.config.strategies import setting_values

FILE = "sinks.d/orders.yaml"
Locator = Callable[[tuple[str | int, ...], bool], Location | None]


def sink_doc(text: str, path: str = FILE) -> tuple[dict[str, Any], Locator]:
    """The `settings` mapping of a YAML sink document and a locator built from its marks."""
    text = textwrap.dedent(text)
    data = yaml.safe_load(text)
    root = yaml.compose(text)
    settings_node = next(v for k, v in root.value if k.value == "settings")

    def locate(keys: tuple[str | int, ...], value: bool) -> Location | None:
        key_node, current = root.value[0][0], settings_node
        for wanted in keys:
            pair = next(((k, v) for k, v in current.value if k.value == wanted), None)
            if pair is None:
                return None
            key_node, current = pair
        mark = (current if value else key_node).start_mark
        return Location(path, mark.line + 1, mark.column + 1)

    return data["settings"], locate


def run(text: str) -> Canonical:
    settings_, locate = sink_doc(text)
    return canonicalise(settings_, locate, path=FILE)


def no_marks(keys: tuple[str | int, ...], value: bool) -> Location | None:
    return None


def formatted(result: Canonical) -> list[str]:
    return [d.format() for d in result.diagnostics]


MINIMAL = {"instanceTypeName": "kafka-sink", "topic": "orders"}


def test_minimal_sink_gets_every_default() -> None:
    result = canonicalise(MINIMAL, no_marks, path=FILE)
    assert result.diagnostics == ()
    assert result.settings is not None
    assert result.explicit == frozenset({"instanceTypeName", "topic"})
    catalogue = load_catalogue()
    expected_keys = [s.key for s in catalogue.specs if s.has_default or s.key in MINIMAL]
    assert list(result.canonical) == expected_keys
    assert result.canonical["compression:type"] == "Zstd"
    assert result.canonical["compression:level"] == 6
    assert result.canonical["resilience:requestTimeoutMs"] == 30000
    assert result.canonical["defaultHeaders"] == {}
    assert "authentication:password" not in result.canonical


def test_table_defaults_agree_with_the_typed_settings_view() -> None:
    result = canonicalise(MINIMAL, no_marks, path=FILE)
    assert result.settings is not None
    assert result.settings == SinkSettings(topic="orders", instance_type="kafka-sink")


def test_nested_flat_and_mixed_forms_are_the_same_settings() -> None:
    nested = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          authentication:
            securityProtocol: SaslSsl
            username: app
            password: secret
          subscription:
            filter:
              scope: Stream
              expression: orders-
        """
    )
    flat = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          authentication:securityProtocol: SaslSsl
          authentication:username: app
          authentication:password: secret
          subscription:filter:scope: Stream
          subscription:filter:expression: orders-
        """
    )
    mixed = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          authentication:
            securityProtocol: SaslSsl
          authentication:username: app
          authentication:password: secret
          subscription:
            filter:scope: Stream
            filter:
              expression: orders-
        """
    )
    assert nested.diagnostics == flat.diagnostics == mixed.diagnostics == ()
    assert nested.settings is not None
    assert nested.settings == flat.settings == mixed.settings
    assert nested.canonical == flat.canonical == mixed.canonical
    assert nested.explicit == flat.explicit == mixed.explicit
    assert nested.canonical["authentication:username"] == "app"
    assert nested.canonical["subscription:filter:scope"] == "Stream"


def test_keys_and_enum_values_in_any_case_take_the_canonical_spelling() -> None:
    result = canonicalise(
        {
            "InstanceTypeName": "Kafka-Sink",
            "TOPIC": "orders",
            "Authentication": {"SECURITYPROTOCOL": "saslssl", "saslmechanism": "scramsha512"},
            "authentication:Username": "u",
            "authentication:PASSWORD": "p",
            "compression:Type": " lz4 ",
            "brokeraddressfamily": "any",
            "partitionKeyExtraction:source": "streamSuffix",
        },
        no_marks,
        path=FILE,
    )
    assert result.diagnostics == ()
    s = result.canonical
    assert s is not None
    assert s["instanceTypeName"] == "kafka-sink"
    assert s["topic"] == "orders"
    assert s["authentication:securityProtocol"] == "SaslSsl"
    assert s["authentication:saslMechanism"] == "ScramSha512"
    assert s["compression:type"] == "Lz4"
    assert s["brokerAddressFamily"] == "Any"
    assert s["partitionKeyExtraction:source"] == "StreamSuffix"
    assert "authentication:username" in result.explicit


def test_string_forms_of_booleans_and_numbers_like_the_settings_api() -> None:
    result = canonicalise(
        {
            **MINIMAL,
            "waitForBrokerAck": "False",
            "partitionKeyExtraction:enabled": "true",
            "compression:level": "9",
            "compression:type": "gzip",
            "resilience:maxRetries": " -1 ",
            "autocommit:interval": 250,
        },
        no_marks,
        path=FILE,
    )
    assert result.diagnostics == ()
    s = result.canonical
    assert s is not None
    assert s["waitForBrokerAck"] is False
    assert s["partitionKeyExtraction:enabled"] is True
    assert s["compression:level"] == 9
    assert s["resilience:maxRetries"] == -1
    assert s["autocommit:interval"] == 250


def test_default_headers_as_mapping_and_as_flat_keys() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          defaultHeaders:
            X-Team: billing
          defaultHeaders:X-Env: prod
          DefaultHeaders:x-Region: eu-west
        """
    )
    assert result.diagnostics == ()
    assert result.settings is not None
    assert result.canonical["defaultHeaders"] == {
        "X-Team": "billing",
        "X-Env": "prod",
        "x-Region": "eu-west",
    }
    assert "defaultHeaders" in result.explicit
    assert result.locations["defaultHeaders"] == Location(FILE, 6, 5)


def test_timespan_is_checked_and_written_with_two_digit_fields() -> None:
    ok = canonicalise({**MINIMAL, "resilience:transientErrorDelay": "0:0:5"}, no_marks, path=FILE)
    assert ok.settings is not None
    assert ok.canonical["resilience:transientErrorDelay"] == "00:00:05"
    assert ok.settings.transient_error_delay_s == 5.0
    days = canonicalise(
        {**MINIMAL, "resilience:transientErrorDelay": "1.02:03:04.5"}, no_marks, path=FILE
    )
    assert days.settings is not None
    assert days.canonical["resilience:transientErrorDelay"] == "1.02:03:04.5"


def test_unquoted_clock_value_read_by_yaml_as_a_number_gets_a_hint() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          resilience:
            transientErrorDelay: 1:30:00
            maxRetries: 3
        """
    )
    assert formatted(result) == [
        f"{FILE}:6:26: error: resilience:transientErrorDelay: expected a TimeSpan (hh:mm:ss), "
        "got 5400 (an unquoted h:mm:ss is a base-60 number in YAML: write '01:30:00')"
    ]
    assert result.settings is None


def test_enum_error_has_the_exact_compiler_text() -> None:
    text = (
        "settings:\n"
        + "".join(f"  k{i}: v\n" for i in range(9))
        + ("  compression:type:\n    zsdt\n")
    )
    settings_, locate = sink_doc(text)
    for i in range(9):
        del settings_[f"k{i}"]
    settings_.update(MINIMAL)
    result = canonicalise(settings_, locate, path=FILE)
    expected = Diagnostic(
        Location(FILE, 12, 5),
        "'zsdt' is not one of None, Gzip, Snappy, Lz4, Zstd (did you mean 'Zstd'?)",
        key="compression:type",
    )
    assert result.diagnostics == (expected,)
    assert expected.format() == (
        "sinks.d/orders.yaml:12:5: error: compression:type: 'zsdt' is not one of "
        "None, Gzip, Snappy, Lz4, Zstd (did you mean 'Zstd'?)"
    )
    assert result.settings is None


def test_every_error_is_reported_at_once_in_file_order() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          waitForBrokerAck: yes please
          compression:
            type: zsdt
            level: 40
          authentication:
            usrname: app
          passwrd: x
          resilience:requestTimeoutMs: soon
          bootstrapServers: 9092
          brokerAddressFamily: [V4]
        """
    )
    assert formatted(result) == [
        f"{FILE}:2:1: error: topic: required setting is missing",
        f"{FILE}:4:21: error: waitForBrokerAck: expected a boolean (true/false), got 'yes please'",
        f"{FILE}:6:11: error: compression:type: 'zsdt' is not one of None, Gzip, Snappy, "
        "Lz4, Zstd (did you mean 'Zstd'?)",
        f"{FILE}:7:12: error: compression:level: must be at most 12, got 40",
        f"{FILE}:9:5: error: authentication:usrname: unknown setting "
        "(did you mean 'authentication:username'?)",
        f"{FILE}:10:3: error: passwrd: unknown setting (did you mean 'authentication:password'?)",
        f"{FILE}:11:32: error: resilience:requestTimeoutMs: expected an integer, got 'soon'",
        f"{FILE}:12:21: error: bootstrapServers: expected a string, got 9092 "
        "(quote it to keep it as text)",
        f"{FILE}:13:24: error: brokerAddressFamily: expected one of Any, V4, V6, got a list",
    ]
    assert result.settings is None


def test_the_same_key_written_twice_names_both_places() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          authentication:
            username: a
          Authentication:Username: b
          defaultHeaders:
            X-Env: prod
          defaultHeaders:x-env: dev
        """
    )
    assert formatted(result) == [
        f"{FILE}:7:3: error: authentication:username: set twice: as 'authentication' > "
        f"'username' at {FILE}:6:5 and as 'Authentication:Username' at {FILE}:7:3",
        f"{FILE}:10:3: error: defaultHeaders:x-env: set twice: as 'defaultHeaders' > 'X-Env' "
        f"at {FILE}:9:5 and as 'defaultHeaders:x-env' at {FILE}:10:3",
    ]
    assert result.settings is None


def test_wrong_shapes_are_reported_per_key() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          authentication: SaslSsl
          defaultHeaders:
            X-Version: 2
          logging: {enabled: null}
          madeUp: {}
        """
    )
    assert formatted(result) == [
        f"{FILE}:5:19: error: authentication: is a group of settings, not a setting: expected "
        "a mapping (or flat keys such as 'authentication:securityProtocol'), got 'SaslSsl'",
        f"{FILE}:7:16: error: defaultHeaders:X-Version: expected a string, got 2 "
        "(quote it to keep it as text)",
        f"{FILE}:8:22: error: logging:enabled: expected a boolean (true/false), got null",
        f"{FILE}:9:3: error: madeUp: unknown setting",
    ]


def test_without_marks_diagnostics_name_the_file() -> None:
    result = canonicalise({"topic": "orders"}, no_marks, path=FILE)
    assert formatted(result) == [f"{FILE}: error: instanceTypeName: required setting is missing"]


def test_warnings_do_not_block_the_settings() -> None:
    result = canonicalise(
        {**MINIMAL, "authentication:saslMechanism": "ScramSha256"}, no_marks, path=FILE
    )
    assert [d.severity for d in result.diagnostics] == [Severity.WARNING]
    assert result.settings is not None
    assert result.canonical["authentication:saslMechanism"] == "ScramSha256"


def test_a_bad_value_is_reported_once_even_when_rules_read_it() -> None:
    result = canonicalise(
        {**MINIMAL, "compression:type": "brotli", "compression:level": 11}, no_marks, path=FILE
    )
    assert formatted(result) == [
        f"{FILE}: error: compression:type: 'brotli' is not one of None, Gzip, Snappy, Lz4, Zstd"
    ]


# --- property: every way of writing the same settings gives the same canonical settings


def _value_strategy(key: str) -> st.SearchStrategy[Any]:
    return setting_values(load_catalogue()[key])


_FREE_KEYS = [
    "bootstrapServers",
    "authentication:saslMechanism",
    "waitForBrokerAck",
    "resilience:enabled",
    "resilience:maxRetries",
    "resilience:transientErrorDelay",
    "resilience:requestTimeoutMs",
    "brokerAddressFamily",
    "compression:type",
    "subscription:filter:scope",
    "subscription:initialPosition",
    "autocommit:interval",
    "logging:enabled",
    "headers:ignoreSystem",
]


@st.composite
def written_forms(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(canonical settings chosen, the same settings written in some random way)."""
    chosen = draw(st.fixed_dictionaries({}, optional={k: _value_strategy(k) for k in _FREE_KEYS}))
    canonical = {**MINIMAL, **chosen}
    document: dict[str, Any] = {}
    for key, value in canonical.items():
        parts = [
            "".join(draw(st.sampled_from([c.lower(), c.upper(), c])) for c in part)
            for part in key.split(":")
        ]
        if isinstance(value, bool | int) and draw(st.booleans()):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        elif isinstance(value, str) and key in {"compression:type", "brokerAddressFamily"}:
            value = draw(st.sampled_from([value.lower(), value.upper(), value]))
        split = draw(st.integers(1, len(parts)))  # nest the first split-1 parts
        target = document
        for part in parts[: split - 1]:
            existing = next((k for k in target if k.lower() == part.lower()), part)
            target = target.setdefault(existing, {})
            if not isinstance(target, dict):
                return canonical, {}  # a flat sibling took this name: skip (rare)
        target[":".join(parts[split - 1 :])] = value
    return canonical, document


@settings(max_examples=150, deadline=None)
@given(written_forms())
def test_any_written_form_gives_the_same_canonical_settings(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    canonical, document = case
    if not document:
        return
    result = canonicalise(document, no_marks, path=FILE)
    assert [d for d in result.diagnostics if d.severity is Severity.ERROR] == []
    assert result.settings is not None
    for key, value in canonical.items():
        assert result.canonical[key] == value
    assert result.explicit == frozenset(canonical)
    assert result.settings == SinkSettings.from_canonical(result.canonical)  # the typed view


def test_canonical_settings_satisfy_the_strict_schema() -> None:
    import jsonschema

    result = canonicalise(
        {**MINIMAL, "compression": {"type": "snappy"}, "defaultHeaders:A": "b"},
        no_marks,
        path=FILE,
    )
    assert result.settings is not None
    jsonschema.Draft202012Validator(canonical_settings_schema(load_catalogue())).validate(
        result.canonical
    )
    assert CompressionType(result.canonical["compression:type"]) is CompressionType.SNAPPY


@pytest.mark.parametrize(
    ("written", "suggestion"),
    [
        ("bootstrap", " (did you mean 'bootstrapServers'?)"),
        ("compresion:type", " (did you mean 'compression:type'?)"),
        ("subscription:filterType", " (did you mean 'subscription:filter:filterType'?)"),
        ("username", " (did you mean 'authentication:username'?)"),
        ("Resilience:RequestTimeout", " (did you mean 'resilience:requestTimeoutMs'?)"),
        ("topc", " (did you mean 'topic'?)"),
        ("enabled", ""),  # several keys end in 'enabled': no guess
        ("name", ""),  # a top-level sink key written under settings
    ],
)
def test_unknown_keys_get_a_suggestion_only_when_one_is_likely(
    written: str, suggestion: str
) -> None:
    result = canonicalise({**MINIMAL, written: "x"}, no_marks, path=FILE)
    assert formatted(result) == [f"{FILE}: error: {written}: unknown setting{suggestion}"]
