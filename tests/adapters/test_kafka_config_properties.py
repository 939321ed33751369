"""Property: settings the schema and rules accept build a real producer and a mapper.

Settings are drawn from the settings tables (any subset of keys, any value a row
accepts), validated the way ``sinks validate`` does, and the valid ones go through
``producer_config`` into a ``confluent_kafka.Producer`` (via the Kafka adapter), and
into the mapper a running sink builds (subscription filter, partition key, headers,
transformer). The producer is never given a message: building it is what librdkafka
checks.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.adapters.kafka import KafkaProducer
from engine.config.canonical import canonicalise
from engine.mapping.pipeline import Mapper
from engine.specification.tables import load_catalogue
from engine.testbed.kafka.certs import ensure_tls
from tests.config.strategies import setting_values
from tests.config.test_canonical import FILE, no_marks

CATALOGUE = load_catalogue()
_TRANSFORM = base64.b64encode(b"function transform(record) { record.value.seen = true; }")

# Regexes (.NET named groups too), JSONPath queries, prefix lists, names; some invalid.
_EXPRESSIONS = [
    "order-",
    "order-,invoice-",
    "^order-(?<id>\\d+)$",
    "^(?P<tenant>[a-z]+)-",
    "(?i)^ORDER",
    "$.value.total",
    "$[?@.value.total > 10]",
    "$..[",
    "^(a+",
    "tenant,region",
    " , ",
    "",
]


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # librdkafka reads the CA file when the producer is built; the path itself is not
    # validated (it names a file on the machine that runs the sink).
    return ensure_tls(tmp_path_factory.mktemp("tls")).ca_file


@st.composite
def written_settings(draw: st.DrawFn, ca_file: Path) -> dict[str, Any]:
    # Values a strategy from the tables alone would nearly never make valid.
    overrides: dict[str, st.SearchStrategy[Any]] = {
        "transformer:function": st.just(_TRANSFORM.decode()),
        "authentication:caFile": st.just(str(ca_file)),
        "subscription:filter:expression": st.sampled_from(_EXPRESSIONS),
        "partitionKeyExtraction:expression": st.sampled_from(_EXPRESSIONS),
    }
    chosen: dict[str, Any] = {}
    for spec in CATALOGUE.specs:
        if spec.required or draw(st.booleans()):
            chosen[spec.key] = draw(overrides.get(spec.key, setting_values(spec)))
    return chosen


def _ignore(*_args: Any) -> None:
    return None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_settings_that_validate_build_a_producer(ca_file: Path, data: st.DataObject) -> None:
    written = data.draw(written_settings(ca_file))
    result = canonicalise(written, no_marks, path=FILE)
    assume(result.settings is not None)
    assert result.settings is not None
    sink = result.settings
    producer = KafkaProducer(sink, _ignore, _ignore, client_id="kafka-sink-property")
    producer.close(timeout=0)
    # The subscription side too: filter plan, partition key, headers, transformer.
    Mapper("property", sink).close()


def test_without_the_retries_rule_such_settings_would_fail_to_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The property's check can fail: drop the rule, and librdkafka refuses what validates.
    from engine.config import rules
    from engine.specification.errors import PermanentError

    kept = [r for r in rules.RULES if r.name != "idempotent_retries"]
    assert len(kept) == len(rules.RULES) - 1
    monkeypatch.setattr(rules, "RULES", kept)
    written = {"instanceTypeName": "kafka-sink", "topic": "t"}
    written["resilience:messageSendMaxRetries"] = 0
    result = canonicalise(written, no_marks, path=FILE)
    assert result.settings is not None
    with pytest.raises(PermanentError, match="`retries` must be set >= 1"):
        KafkaProducer(result.settings, _ignore, _ignore)
