"""Config tests (``*.test.yaml``) run against SinkDefinitions built here (no loader)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.configtest.runner import run_tests
from engine.specification.model import SinkDefinition
from tests.mapping.helpers import js

ORDERS = {
    "topic": "orders",
    "subscription:filter:scope": "Stream",
    "subscription:filter:filterType": "Prefix",
    "subscription:filter:expression": "order-",
    "partitionKeyExtraction:enabled": True,
    "partitionKeyExtraction:source": "Headers",
    "partitionKeyExtraction:expression": "region",
    "defaultHeaders": {"X-Source": "kurrentdb"},
}

PASSING = """\
cases:
  - name: eu order
    event:
      stream: order-1
      type: OrderPlaced
      data: {region: eu, lines: [{sku: a, qty: 1}]}
      metadata: {region: eu, $correlationId: c-1}
    expect:
      topic: orders
      key: eu
      headers:
        X-Source: kurrentdb
        esdb-record-headers-region: eu
        esdb-record-headers-$correlationId: null
        esdb-record-stream-id: order-1
      value_contains: {lines: [{sku: a}]}
  - name: other streams
    event: {stream: invoice-1, type: InvoiceIssued, data: {}}
    expect: {filtered: true}
  - name: binary value
    event: {stream: order-2, type: Blob, data_base64: AAEC}
    expect:
      key: order-2
      headers: {esdb-record-schema-type: bytes}
"""

FAILING = """\
cases:
  - name: eu order
    event:
      stream: order-1
      type: OrderPlaced
      data: {region: eu}
      metadata: {region: us}
    expect:
      key: eu
      value: {region: us}
      headers:
        X-Source: other
  - name: not filtered
    event: {stream: order-3, type: T, data: {}}
    expect:
      filtered: true
  - name: filtered
    event: {stream: invoice-3, type: T, data: {}}
    expect:
      topic: orders
  - name: subset
    event: {stream: order-4, type: T, data: {a: {b: 1}, list: [1, 2]}}
    expect:
      value_contains: {a: {b: 2, c: 1}, list: [1]}
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "sinks.d"
    folder.mkdir()
    (folder / "orders.yaml").write_text("# sink file (content read by the loader)\n")
    return folder


def orders(**changes: Any) -> SinkDefinition:
    return SinkDefinition.from_canonical(
        "orders", {**ORDERS, **changes}, source_file="sinks.d/orders.yaml"
    )


def lines(root: Path, definitions: list[SinkDefinition]) -> tuple[list[str], int, int]:
    report = run_tests("sinks.d", definitions)
    return [d.format() for d in report.diagnostics()], report.passed, report.failed


def test_passing_cases(root: Path) -> None:
    (root / "orders.test.yaml").write_text(PASSING)
    assert lines(root, [orders()]) == ([], 3, 0)


def test_each_mismatch_is_a_compiler_style_line_at_the_expectation(root: Path) -> None:
    (root / "orders.test.yaml").write_text(FAILING)
    found, passed, failed = lines(root, [orders()])
    assert (passed, failed) == (0, 4)
    assert found == [
        "sinks.d/orders.test.yaml:9:12: error: case 'eu order': key: expected 'eu', got 'us'",
        "sinks.d/orders.test.yaml:10:14: error: case 'eu order': value: expected "
        '{"region": "us"}, got {"region": "eu"}',
        "sinks.d/orders.test.yaml:12:19: error: case 'eu order': header 'X-Source': expected "
        "'other', got 'kurrentdb'",
        "sinks.d/orders.test.yaml:16:17: error: case 'not filtered': expected the event to be "
        "filtered out, got a message",
        "sinks.d/orders.test.yaml:20:7: error: case 'filtered': expected a message, the event was "
        "filtered out by $all where stream ids match ^(?:order-)[\\s\\S]*$",
        "sinks.d/orders.test.yaml:24:23: error: case 'subset': value.a.b: expected 2, got 1",
        "sinks.d/orders.test.yaml:24:23: error: case 'subset': value.a.c: missing",
        "sinks.d/orders.test.yaml:24:23: error: case 'subset': value.list: expected [1], "
        "got [1, 2]",
    ]


def test_unreadable_cases_fail_with_their_location(root: Path) -> None:
    (root / "orders.test.yaml").write_text(
        "cases:\n"
        "  - name: broken\n"
        "    event: {stream: x}\n"
        "    expect: {filtered: true, topik: t}\n"
        "  - name: ok\n"
        "    event: {stream: order-1, type: T}\n"
        "    expect: {topic: orders}\n"
    )
    found, passed, failed = lines(root, [orders()])
    assert (passed, failed) == (1, 1)
    assert found == [
        "sinks.d/orders.test.yaml:3:12: error: case 'broken': event needs a 'type' string",
        "sinks.d/orders.test.yaml:4:14: error: case 'broken': 'filtered' cannot be combined with "
        "other expectations",
        "sinks.d/orders.test.yaml:4:30: error: case 'broken': unknown key 'topik' (expected one of "
        "topic, key, headers, value, value_contains, filtered, error)",
    ]


def test_sink_named_in_the_file_and_missing_sink(root: Path) -> None:
    (root / "extra.test.yaml").write_text(
        "sink: orders\ncases:\n  - name: a\n    event: {stream: order-1, type: T}\n"
        "    expect: {topic: orders}\n"
        "  - name: b\n    sink: nope\n    event: {stream: order-1, type: T}\n"
        "    expect: {topic: orders}\n"
    )
    (root / "lonely.test.yaml").write_text(
        "cases:\n  - name: c\n    event: {stream: s, type: T}\n    expect: {filtered: true}\n"
    )
    found, passed, failed = lines(root, [orders()])
    assert (passed, failed) == (1, 2)
    assert found == [
        "sinks.d/extra.test.yaml:7:11: error: case 'b': no loaded sink named 'nope'",
        "sinks.d/lonely.test.yaml:2:5: error: case 'c': no loaded sink in lonely.yaml beside this "
        "file (name one with 'sink:')",
    ]


def test_transformer_and_transform_errors(root: Path) -> None:
    source = (
        "function transform(r) { if (r.value.bad) throw new Error('bad order');"
        " r.value.total = r.value.qty * 2; }"
    )
    definition = orders(**{"transformer:enabled": True, "transformer:function": js(source)})
    (root / "orders.test.yaml").write_text(
        "cases:\n"
        "  - name: doubled\n"
        "    event: {stream: order-1, type: T, data: {qty: 2}}\n"
        "    expect:\n"
        "      value: {qty: 2, total: 4}\n"
        "      headers: {esdb-record-is-transformed: 'true'}\n"
        "  - name: refused\n"
        "    event: {stream: order-1, type: T, data: {bad: true}}\n"
        "    expect: {error: bad order}\n"
        "  - name: unexpected failure\n"
        "    event: {stream: order-1, type: T, data: {bad: true}, position: 77}\n"
        "    expect: {topic: orders}\n"
    )
    found, passed, failed = lines(root, [definition])
    assert (passed, failed) == (2, 1)
    assert len(found) == 1
    assert found[0].startswith(
        "sinks.d/orders.test.yaml:11:12: error: case 'unexpected failure': mapping failed: "
        "sink 'orders': transform threw: Error: bad order (at transform (<anonymous>:1:48)) "
        "(event "
    )
    assert found[0].endswith(" at position 77 in 'order-1')")


def test_sink_that_cannot_start_fails_its_cases(root: Path) -> None:
    definition = orders(**{"transformer:enabled": True, "transformer:function": js("nope(")})
    (root / "orders.test.yaml").write_text(PASSING)
    found, passed, failed = lines(root, [definition])
    assert (passed, failed) == (0, 3)
    assert all(
        line.startswith("sinks.d/orders.yaml: error: case '")
        and "sink 'orders' cannot start: transformer:function: the JavaScript does not compile"
        in line
        for line in found
    )


def test_jsonpath_filter_in_a_config_test(root: Path) -> None:
    definition = orders(
        **{
            "subscription:filter:filterType": "JsonPath",
            "subscription:filter:expression": "$[?($.value.vehicle.year==2018)]",
            "partitionKeyExtraction:enabled": False,
        }
    )
    (root / "orders.test.yaml").write_text(
        "cases:\n"
        "  - name: match\n"
        "    event: {stream: cars-1, type: T, data: {vehicle: {year: 2018}}}\n"
        "    expect: {key: null}\n"
        "  - name: no match\n"
        "    event: {stream: cars-1, type: T, data: {vehicle: {year: 2019}}}\n"
        "    expect: {filtered: true}\n"
        "  - name: system events hidden\n"
        "    event: {stream: $stats, type: $statsCollected, data: {vehicle: {year: 2018}}}\n"
        "    expect: {filtered: true}\n"
    )
    assert lines(root, [definition]) == ([], 3, 0)


def test_invalid_yaml_is_a_file_problem(root: Path) -> None:
    (root / "orders.test.yaml").write_text("cases: [\n")
    report = run_tests("sinks.d", [orders()])
    assert not report.ok and report.failed == 1
    assert report.diagnostics()[0].format().startswith("sinks.d/orders.test.yaml:")
