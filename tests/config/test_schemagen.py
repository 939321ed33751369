"""Tables → JSON Schema: the committed file, the strict form and the editor form."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from engine.config.schemagen import (
    DEFAULT_SCHEMA_PATH,
    DIALECT,
    canonical_settings_schema,
    ci_pattern,
    render_schema,
    sink_document_schema,
)
from engine.specification.tables import load_catalogue


@pytest.fixture(scope="module")
def document_schema() -> dict[str, Any]:
    return sink_document_schema(load_catalogue())


@pytest.fixture(scope="module")
def editor(document_schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(document_schema)
    return jsonschema.Draft202012Validator(document_schema)


def errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return sorted(e.message for e in validator.iter_errors(document))


def test_committed_schema_is_what_the_tables_give() -> None:
    assert DEFAULT_SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(load_catalogue())


def test_rendering_is_deterministic() -> None:
    assert render_schema(load_catalogue()) == render_schema(load_catalogue())


def test_document_schema_is_draft_2020_12(document_schema: dict[str, Any]) -> None:
    assert document_schema["$schema"] == DIALECT
    assert document_schema["additionalProperties"] is False
    assert document_schema["required"] == ["name", "settings"]
    assert set(document_schema["properties"]) == {
        "name", "description", "enabled", "labels", "settings"
    }  # fmt: skip


def test_canonical_schema_carries_types_defaults_ranges_and_enums() -> None:
    schema = canonical_settings_schema(load_catalogue())
    jsonschema.Draft202012Validator.check_schema({"$schema": DIALECT, **schema})
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["topic", "instanceTypeName"]
    assert props["compression:type"]["enum"] == ["None", "Gzip", "Snappy", "Lz4", "Zstd"]
    assert props["compression:type"]["default"] == "Zstd"
    assert props["compression:level"] == {
        "description": props["compression:level"]["description"],
        "default": 6,
        "type": "integer",
        "minimum": -1,
        "maximum": 12,
    }
    assert props["waitForBrokerAck"]["type"] == "boolean"
    assert props["defaultHeaders"]["additionalProperties"] == {"type": "string"}
    assert props["defaultHeaders"]["default"] == {}
    assert "default" not in props["authentication:password"]
    assert props["autocommit:interval"]["maximum"] == 2**31 - 1
    assert props["resilience:transientErrorDelay"]["pattern"]
    assert "Kafka topic" in props["topic"]["description"]


def test_embedded_canonical_schema_is_the_one_validation_uses(
    document_schema: dict[str, Any],
) -> None:
    embedded = document_schema["$defs"]["canonicalSettings"]
    assert embedded == canonical_settings_schema(load_catalogue())


SAMPLE = """
name: orders-to-kafka
description: Orders for the billing team
labels: {team: billing}
settings:
  instanceTypeName: kafka-sink
  topic: orders
  bootstrapServers: localhost:9092
  authentication:
    securityProtocol: saslSsl
    saslMechanism: ScramSha256
    username: app
    password: secret
  subscription:filter:scope: Stream
  subscription:
    filter:
      expression: orders-
      filterType: Prefix
    initialPosition: earliest
  defaultHeaders:
    X-Team: billing
  defaultHeaders:X-Env: prod
  resilience:
    transientErrorDelay: "00:00:05"
    maxRetries: "10"
  compression: {type: gzip, level: 9}
  waitForBrokerAck: "true"
"""


def test_editor_schema_accepts_nested_flat_mixed_and_loose_values(
    editor: jsonschema.Draft202012Validator,
) -> None:
    assert errors(editor, yaml.safe_load(SAMPLE)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["settings"]["compression"].update(type="zsdt"),
            "'zsdt' is not valid under any of the given schemas",
        ),
        (
            lambda d: d["settings"].update(usrname="x"),
            "'usrname' does not match any of the regexes: '^defaultHeaders:.+$', "
            "'^topics:config:.+$'",
        ),
        (
            lambda d: d["settings"]["authentication"].update(passwrd="x"),
            "Additional properties are not allowed ('passwrd' was unexpected)",
        ),
        (
            lambda d: d["settings"].update({"resilience:transientErrorDelay": "5s"}),
            "'5s' does not match '^(\\\\d+\\\\.)?([01]?\\\\d|2[0-3]):[0-5]?\\\\d:[0-5]?\\\\d"
            "(\\\\.\\\\d{1,7})?$'",
        ),
        (lambda d: d["settings"].pop("topic"), "'topic' is a required property"),
        (lambda d: d.pop("name"), "'name' is a required property"),
        (
            lambda d: d.update(owner="me"),
            "Additional properties are not allowed ('owner' was unexpected)",
        ),
        (
            lambda d: d["settings"].update(waitForBrokerAck="yes please"),
            "'yes please' is not valid under any of the given schemas",
        ),
    ],
)
def test_editor_schema_flags_mistakes(
    editor: jsonschema.Draft202012Validator, change: Any, expected: str
) -> None:
    document = yaml.safe_load(SAMPLE)
    change(document)
    assert errors(editor, document) == [expected]


def test_case_insensitive_patterns_match_like_the_engine() -> None:
    pattern = re.compile("^" + ci_pattern("SaslSsl") + "$")
    assert pattern.match("saslssl") and pattern.match("SASLSSL")
    assert not pattern.match("sasl_ssl")
    # '-' stays unescaped: ECMA-262 unicode regexes (JSON Schema tools) refuse "\\-".
    assert ci_pattern("kafka-sink") == "[Kk][Aa][Ff][Kk][Aa]-[Ss][Ii][Nn][Kk]"
    assert ci_pattern("a.b") == "[Aa]\\.[Bb]"


def test_committed_file_is_valid_json_with_a_trailing_newline() -> None:
    text = DEFAULT_SCHEMA_PATH.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    assert json.loads(text)["title"] == "Kafka sink definition"
