"""Second-pass rules, through canonicalise() (same error format) and directly."""

from __future__ import annotations

import base64
from importlib.metadata import version
from typing import Any

import pytest

from engine.config import rules
from engine.config.canonical import Canonical, canonicalise
from engine.specification.model import Location, Severity
from engine.specification.settings import CompressionType, ErrorTolerance, SinkSettings
from tests.config.test_canonical import FILE, MINIMAL, no_marks, run

# jsonpath-rfc9535 1.x (Python 3.11) and 2.x (3.12 and later) word this fault apart.
UNCLOSED = (
    "unbalanced brackets"
    if version("jsonpath-rfc9535").startswith("1.")
    else "unexpected end of query"
)


def check(**written: Any) -> Canonical:
    settings: dict[str, Any] = dict(MINIMAL)
    settings.update({k.replace("__", ":"): v for k, v in written.items()})
    return canonicalise(settings, no_marks, path=FILE)


def messages(result: Canonical) -> list[str]:
    return [d.format() for d in result.diagnostics]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "es.{categroy}",
            "topic: unknown placeholder '{categroy}' (did you mean '{category}'?); the "
            "placeholders are {stream}, {category}, {streamSuffix}, {eventType}, {metadata:KEY}",
        ),
        (  # the schema's pattern finds this one first
            "es.{category",
            "topic: 'es.{category' is not a Kafka topic name (letters, digits, '.', '_' or "
            "'-') in which {placeholders} may stand for parts of each event",
        ),
        ("x" * 250, "topic: a topic name has at most 249 characters, this one 250"),
    ],
)
def test_a_topic_template_that_cannot_be_read_is_an_error(written: str, message: str) -> None:
    result = run(
        f"""
        settings:
          instanceTypeName: kafka-sink
          topic: "{written}"
        """
    )
    assert [m.split(": error: ", 1)[1] for m in messages(result)] == [message]


def test_an_unquoted_placeholder_topic_gets_a_hint_to_quote_it() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: {category}
        """
    )
    assert messages(result) == [
        f"{FILE}:4:10: error: topic: expected a string, got a mapping (YAML reads an unquoted "
        '{category} as a mapping: quote it, "{category}")'
    ]


def test_regex_filter_must_compile() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          subscription:
            filter:
              scope: stream
              filterType: regex
              expression: "^orders-(.*"
        """
    )
    assert messages(result) == [
        f"{FILE}:9:19: error: subscription:filter:expression: not a valid regular expression: "
        "missing ) at position 11"
    ]
    assert result.settings is None


def test_valid_regex_and_prefix_filters_pass() -> None:
    assert (
        check(
            subscription__filter__filterType="Regex", subscription__filter__expression="^o.*$"
        ).diagnostics
        == ()
    )
    # A prefix list is not a regular expression and is not compiled.
    assert (
        check(
            subscription__filter__filterType="Prefix", subscription__filter__expression="a(,b"
        ).diagnostics
        == ()
    )


def test_jsonpath_filter_must_parse() -> None:
    bad = check(
        subscription__filter__filterType="jsonPath", subscription__filter__expression="$.a["
    )
    assert messages(bad) == [
        f"{FILE}: error: subscription:filter:expression: not a valid JSONPath (RFC 9535) "
        f"query: {UNCLOSED}, line 1, column 4"
    ]
    empty = check(subscription__filter__filterType="JsonPath")
    assert messages(empty) == [
        f"{FILE}: error: subscription:filter:expression: a JsonPath filter needs a JSONPath "
        "query as its expression"
    ]
    good = check(
        subscription__filter__filterType="JsonPath",
        subscription__filter__expression="$[?@.amount > 100]",
    )
    assert good.diagnostics == ()


def test_stream_partition_key_expression_must_compile_when_extraction_is_on() -> None:
    bad = check(
        partitionKeyExtraction__enabled="true",
        partitionKeyExtraction__source="stream",
        partitionKeyExtraction__expression="^(.*_data$",
    )
    assert messages(bad) == [
        f"{FILE}: error: partitionKeyExtraction:expression: not a valid regular expression: "
        "missing ) at position 10"
    ]
    off = check(
        partitionKeyExtraction__source="stream", partitionKeyExtraction__expression="^(.*_data$"
    )
    assert off.diagnostics == ()


def test_headers_partition_source_needs_header_names() -> None:
    missing = check(partitionKeyExtraction__enabled=True, partitionKeyExtraction__source="Headers")
    assert messages(missing) == [
        f"{FILE}: error: partitionKeyExtraction:expression: the Headers source needs a "
        "comma-separated list of header names"
    ]
    gap = check(
        partitionKeyExtraction__enabled=True,
        partitionKeyExtraction__source="Headers",
        partitionKeyExtraction__expression="key1,,key2",
    )
    assert messages(gap) == [
        f"{FILE}: error: partitionKeyExtraction:expression: empty header name in 'key1,,key2'"
    ]
    ok = check(
        partitionKeyExtraction__enabled=True,
        partitionKeyExtraction__source="Headers",
        partitionKeyExtraction__expression="key1, key2",
    )
    assert ok.diagnostics == ()


def test_enabled_transformer_needs_a_base64_function() -> None:
    assert messages(check(transformer__enabled=True)) == [
        f"{FILE}: error: transformer:function: required when transformer:enabled is true"
    ]
    assert messages(check(transformer__enabled=True, transformer__function="not base64!")) == [
        f"{FILE}: error: transformer:function: not valid base64 of JavaScript source: "
        "Only base64 data is allowed"
    ]
    latin1 = base64.b64encode(b"\xff\xfe").decode()
    assert messages(check(transformer__enabled=True, transformer__function=latin1)) == [
        f"{FILE}: error: transformer:function: not valid base64 of JavaScript source: "
        "not UTF-8 text"
    ]
    source = "function transform(record) { record.value.seen = true; }"
    assert check(transformer__enabled=True, transformer__function=b64(source)).diagnostics == ()
    # A disabled transformer's function is not looked at.
    assert check(transformer__function="not base64!").diagnostics == ()


@pytest.mark.parametrize("protocol", ["SaslPlaintext", "SaslSsl"])
def test_sasl_protocols_need_username_and_password(protocol: str) -> None:
    result = run(
        f"""
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          authentication:
            securityProtocol: {protocol.lower()}
            username: ""
        """
    )
    # A key that was written is pointed at; a missing one at the protocol needing it.
    assert messages(result) == [
        f"{FILE}:6:23: error: authentication:password: required when "
        f"authentication:securityProtocol is {protocol}",
        f"{FILE}:7:15: error: authentication:username: required when "
        f"authentication:securityProtocol is {protocol}",
    ]
    full = check(
        authentication__securityProtocol=protocol,
        authentication__username="u",
        authentication__password="p",
    )
    assert full.diagnostics == ()


@pytest.mark.parametrize(
    ("codec", "level", "accepted"),
    [
        ("Gzip", 10, "0..9"),
        ("Lz4", 13, None),  # beyond the client's -1..12: the schema's range says so
        ("Snappy", 1, "0"),
        ("Zstd", -2, None),
    ],
)
def test_compression_level_outside_the_codec_range(
    codec: str, level: int, accepted: str | None
) -> None:
    result = check(compression__type=codec, compression__level=level)
    if accepted is not None:
        assert messages(result) == [
            f"{FILE}: error: compression:level: {level} is out of range for {codec}: use "
            f"{accepted}, or -1 for the codec's default"
        ]
    else:
        bound = "at most 12" if level > 12 else "at least -1"
        assert messages(result) == [
            f"{FILE}: error: compression:level: must be {bound}, got {level}"
        ]


@pytest.mark.parametrize(
    ("codec", "level"),
    [("Gzip", 0), ("Gzip", 9), ("Lz4", 12), ("Zstd", 12), ("Zstd", 1), ("Snappy", 0)]
    + [(c, -1) for c in ("Gzip", "Lz4", "Zstd", "Snappy")],
)
def test_compression_level_inside_the_codec_range(codec: str, level: int) -> None:
    assert check(compression__type=codec, compression__level=level).diagnostics == ()


def test_default_level_is_not_checked_against_the_codec() -> None:
    # The default level (6) with Snappy goes to the client, which ignores it.
    assert check(compression__type="Snappy").diagnostics == ()


def test_level_without_compression_is_a_warning() -> None:
    result = check(compression__type="none", compression__level=3)
    assert messages(result) == [
        f"{FILE}: warning: compression:level: has no effect: compression:type is None"
    ]
    assert result.settings is not None


def test_instance_type_must_be_kafka_sink() -> None:
    assert messages(check(instanceTypeName="http-sink")) == [
        f"{FILE}: error: instanceTypeName: 'http-sink' is not supported: this engine runs "
        "only kafka-sink sinks"
    ]


def test_settings_without_effect_are_warnings() -> None:
    result = check(authentication__caFile="/etc/ca.pem", authentication__saslMechanism="plain")
    assert messages(result) == [
        f"{FILE}: warning: authentication:saslMechanism: has no effect: "
        "authentication:securityProtocol is Plaintext, not a SASL protocol",
        f"{FILE}: warning: authentication:caFile: has no effect: "
        "authentication:securityProtocol is Plaintext, which uses no TLS",
    ]
    assert result.settings is not None
    tls = check(authentication__securityProtocol="Ssl", authentication__caFile="/etc/ca.pem")
    assert tls.diagnostics == ()


def test_rules_reading_a_failed_key_are_skipped() -> None:
    settings = SinkSettings(
        topic="orders",
        transformer_enabled=True,
        transformer_function="",
        compression_type=CompressionType.GZIP,
        compression_level=11,
    )
    written = {"transformer:enabled", "transformer:function", "compression:type"}
    where = {"transformer:function": Location(FILE, 3, 1)}
    found = rules.check(
        settings,
        explicit=frozenset({*written, "compression:level"}),
        where=where.get,
        skip=frozenset({"compression:type"}),
    )
    assert [(d.key, d.location, d.severity) for d in found] == [
        ("transformer:function", Location(FILE, 3, 1), Severity.ERROR)
    ]


def test_a_failed_optional_key_is_not_reported_again_as_missing() -> None:
    result = check(
        authentication__securityProtocol="SaslSsl",
        authentication__username=["u"],
        authentication__password="p",
    )
    assert messages(result) == [
        f"{FILE}: error: authentication:username: expected a string, got a list"
    ]


def test_every_rule_names_keys_the_tables_know() -> None:
    from engine.specification.tables import load_catalogue

    known = set(load_catalogue().keys)
    for rule in rules.RULES:
        assert set(rule.keys) <= known, rule.name


def test_a_rule_reading_an_attribute_the_settings_lack_fails_at_import() -> None:
    with pytest.raises(ValueError, match=r"rules read attributes SinkSettings lacks: \['topik'\]"):
        rules._rule("topic", "topik")


def test_findings_name_attributes_and_print_the_keys_of_the_tables() -> None:
    settings = SinkSettings(topic="orders", compression_type=CompressionType.NONE)
    where = {"compression:level": Location(FILE, 7, 3)}
    found = rules.check(settings, explicit=frozenset({"compression:level"}), where=where.get)
    assert [(d.key, d.location, d.severity) for d in found] == [
        ("compression:level", Location(FILE, 7, 3), Severity.WARNING)
    ]


def test_dead_letter_needs_a_topic_of_its_own() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          errors:
            tolerance: deadletter
        """
    )
    assert messages(result) == [
        f"{FILE}:6:16: error: errors:deadLetterTopic: required when errors:tolerance is deadLetter"
    ]
    assert messages(
        check(errors__tolerance="deadLetter", errors__deadLetterTopic=MINIMAL["topic"])
    ) == [
        f"{FILE}: error: errors:deadLetterTopic: {MINIMAL['topic']!r} is the sink's own "
        "topic: poison events need a topic of their own"
    ]
    assert messages(check(errors__tolerance="skip", errors__deadLetterTopic="orders.dlq")) == [
        f"{FILE}: warning: errors:deadLetterTopic: has no effect: errors:tolerance is skip, "
        "not deadLetter"
    ]
    ok = check(errors__tolerance="DEADLETTER", errors__deadLetterTopic="orders.dlq")
    assert ok.diagnostics == ()
    assert ok.canonical is not None and ok.canonical["errors:tolerance"] == "deadLetter"
    assert ok.settings is not None and ok.settings.error_tolerance is ErrorTolerance.DEAD_LETTER
    assert check().canonical["errors:tolerance"] == "fail"  # type: ignore[index]


def test_exactly_once_is_accepted_with_the_defaults() -> None:
    result = check(delivery__guarantee="exactlyonce")
    assert messages(result) == []
    assert result.canonical["delivery:guarantee"] == "exactlyOnce"
    assert result.settings is not None and result.settings.exactly_once


def test_exactly_once_needs_broker_acks_and_checkpoints() -> None:
    result = check(
        delivery__guarantee="exactlyOnce", waitForBrokerAck=False, autocommit__enabled=False
    )
    assert messages(result) == [
        f"{FILE}: error: waitForBrokerAck: must be true: required by delivery:guarantee "
        "exactlyOnce (transactions need the idempotent producer)",
        f"{FILE}: error: autocommit:enabled: must be true: required by delivery:guarantee "
        "exactlyOnce (each transaction commits with its checkpoint)",
    ]


def test_exactly_once_refuses_waits_longer_than_half_the_transaction_timeout() -> None:
    result = check(
        delivery__guarantee="exactlyOnce",
        autocommit__interval=30_001,
        resilience__requestTimeoutMs=45_000,
    )
    assert messages(result) == [
        f"{FILE}: error: autocommit:interval: must be at most 30000 with delivery:guarantee "
        "exactlyOnce, got 30001: a transaction stays open this long, and the broker aborts "
        "a transaction after 60000 ms",
        f"{FILE}: error: resilience:requestTimeoutMs: must be at most 30000 with "
        "delivery:guarantee exactlyOnce, got 45000: the producer waits for a broker this "
        "long, and the broker aborts a transaction after 60000 ms",
    ]
    # The same values are fine at least once.
    assert messages(check(autocommit__interval=30_001, resilience__requestTimeoutMs=45_000)) == []


@pytest.mark.parametrize(
    ("expression", "where"),
    [("$.a[", "line 1, column 4"), ("$[?@.a ==]", "line 1, column 9")],
)
def test_a_jsonpath_syntax_error_is_one_line_with_its_place(expression: str, where: str) -> None:
    from engine.config.jsonpath_syntax import syntax_error

    reason = syntax_error(expression)
    assert reason is not None and "\n" not in reason and reason.endswith(f", {where}")


def test_topic_provisioning_refuses_zero_and_warns_when_create_is_off() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          topics:
            partitions: 0
            config:
              cleanup.policy: compact
        """
    )
    assert [m.split(": ", 1)[1] for m in messages(result)] == [
        "error: topics:partitions: must be -1 (the broker's default) or at least 1, got 0",
        "warning: topics:config: has no effect: topics:create is false",
    ]


def test_headers_cloud_events_source_is_a_template() -> None:
    result = run(
        """
        settings:
          instanceTypeName: kafka-sink
          topic: orders
          headers:
            cloudEvents: true
            cloudEventsSource: "/x/{strem}"
        """
    )
    assert [m.split(": ", 1)[1] for m in messages(result)] == [
        "error: headers:cloudEventsSource: unknown placeholder '{strem}' (did you mean "
        "'{stream}'?); the placeholders are {stream}, {category}, {streamSuffix}, {eventType}, "
        "{metadata:KEY}"
    ]
