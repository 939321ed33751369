"""JSONPath ``match()`` / ``search()``: the package's answers, with the engine's time bound."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpath_rfc9535
import pytest

from engine.mapping.jsonpath import ENVIRONMENT, JsonPathFilter
from engine.mapping.pipeline import Mapper, TransformError
from engine.runtime.errors_policy import BatchSender, PoisonPolicy
from engine.runtime.worker_api import Cause, IncidentKind
from engine.sandbox.regexes import RegexTimeout
from engine.specification.constants import JSONPATH_REGEX_BUDGET_S, REGEX_SEARCH_LIMIT_S
from tests.mapping.helpers import record, settings
from tests.support.fake_adapters import RecordingPipeline

SLOW = "a" * 36 + "b"
# Exponential for the `regex` package's backtracking; valid I-Regexps (`$` is a plain
# character in I-Regexp, the package hands it to `regex` as an anchor).
SLOW_SEARCH = "(a|a)+$"
SLOW_MATCH = "(a|a)+"


def slow_document() -> dict[str, Any]:
    return {"streamId": SLOW, "value": {"name": SLOW}}


@pytest.mark.parametrize(
    ("expression", "shown"),
    [
        (f"$[?search($.streamId, '{SLOW_SEARCH}')]", f"search() pattern '{SLOW_SEARCH}'"),
        (f"$[?match($.streamId, '{SLOW_MATCH}')]", f"match() pattern '{SLOW_MATCH}'"),
        (f"$.value[?match(@, '{SLOW_MATCH}')]", f"match() pattern '{SLOW_MATCH}'"),  # per member
    ],
)
def test_a_catastrophic_pattern_ends_with_the_timeout_error(expression: str, shown: str) -> None:
    with pytest.raises(RegexTimeout) as caught:
        JsonPathFilter(expression).matches(slow_document())
    assert str(caught.value) == (
        f"subscription:filter:expression: the JSONPath {shown} did not finish within "
        f"{REGEX_SEARCH_LIMIT_S:g} s on '{SLOW}'"
    )


# Each item takes a few milliseconds (well under the per-search limit on any machine
# this runs on), a thousand of them seconds: the budget of the event stops them.
SOME_WORK = "a" * 12 + "b"


def test_the_searches_of_one_event_share_one_budget() -> None:
    document = {"streamId": "s", "value": {"items": [SOME_WORK] * 1000}}
    query = f"$.value.items[?search(@, '{SLOW_SEARCH}')]"
    with pytest.raises(RegexTimeout) as caught:
        JsonPathFilter(query).matches(document)
    assert str(caught.value) == (
        "subscription:filter:expression: the match() and search() calls of the filter took "
        f"longer than {JSONPATH_REGEX_BUDGET_S:g} s in all on this event (stopped at the "
        f"JSONPath search() pattern '{SLOW_SEARCH}')"
    )
    # The budget is per event: the next event starts with a whole one.
    assert JsonPathFilter(query).matches({"value": {"items": ["b"]}}) is False


def test_the_issue_s_nested_quantifier_runs_in_linear_time() -> None:
    # `regex` recognises `(a+)+` and needs no timeout: the answer is the package's.
    query = "$[?search($.streamId, '(a+)+$')]"
    assert JsonPathFilter(query).matches(slow_document()) is False
    assert jsonpath_rfc9535.compile(query).find(slow_document()).values() == []


DOCUMENTS: list[Any] = [
    {"s": "abc", "n": 5, "t": "line one\nline two", "u": "Ünïcødé ✓", "e": "", "d": "a.c"},
    [{"s": "ab"}, {"s": "xaby"}, {"s": "AB"}, {"s": 12}, {"s": None}, {}, {"s": "a\r\nb"}],
]
PATTERNS = [
    "ab",
    "a.c",
    "a.b",
    ".*",
    "[a-c]+",
    "[^a]",
    "\\\\d",
    "\\\\p{Lu}",
    "\\\\P{L}",
    "x?ab(y|z)?",
    "a{1,2}b",
    "ab$",
    "^ab",
    "line.two",
    "(?i)ab",  # not an I-Regexp: false in both
    "a++",  # not an I-Regexp
    "(",  # not a regex at all
    "",
    "Ünï.+",
    "[a&&b]",  # a set of three in regex's VERSION0, an empty intersection in VERSION1
    "[.]",  # a dot in a class is a dot
    "a\\\\.c",  # an escaped dot is a dot
]
TARGETS = ["$.s", "$.t", "$.u", "$.e", "$.d", "$.n", "$.missing", "@.s", "@"]


def cases() -> list[tuple[str, int]]:
    return [
        (f"$[?{function}({target}, '{pattern}')]", document)
        for function in ("match", "search")
        for pattern in PATTERNS
        for target in TARGETS
        for document in range(len(DOCUMENTS))
    ]


def test_answers_are_the_package_s_own() -> None:
    differ, selected = [], []
    for query, document in cases():
        data = DOCUMENTS[document]
        ours = [(n.path(), n.value) for n in ENVIRONMENT.compile(query).find(data)]
        theirs = [(n.path(), n.value) for n in jsonpath_rfc9535.compile(query).find(data)]
        if ours != theirs:
            differ.append((query, document, ours, theirs))
        selected.append(bool(ours))
    assert differ == []
    # The cases both select nodes and miss them, so the comparison can tell a change.
    assert any(selected) and not all(selected)


@pytest.mark.parametrize(
    "query",
    [
        "$[?match(@.a, 'x')]",
        "$[?search($.a, 'x') && !match(@.b, 'y')]",
        "$[?match(@.a)]",  # too few arguments
        "$[?search(@.a, 'x', 'y')]",  # too many
        "$[?match(@..a, 'x')]",  # not a singular query
        "$[?match(@.a, 'x') == true]",  # a logical result is not comparable
        "$[?count(@.*) > 1 && length(@.s) < 3 && value(@.v) == 1]",
        "$[?nosuch(@.a)]",
    ],
)
def test_validation_accepts_and_refuses_the_same_queries(query: str) -> None:
    def outcome(compile_: Any) -> str:
        try:
            compile_(query)
        except jsonpath_rfc9535.JSONPathError as exc:
            return f"{type(exc).__name__}: {exc}"
        return "ok"

    assert outcome(ENVIRONMENT.compile) == outcome(jsonpath_rfc9535.compile)


FILTER = f"$[?search($.streamId, '{SLOW_SEARCH}')]"


def filter_settings(tolerance: str = "fail") -> Any:
    return settings(
        subscription__filter__filterType="JsonPath",
        subscription__filter__expression=FILTER,
        errors__tolerance=tolerance,
        errors__deadLetterTopic="out.dlq" if tolerance == "deadLetter" else None,
    )


def test_the_mapper_fails_that_event_and_keeps_the_ones_before() -> None:
    mapper = Mapper("orders", filter_settings())
    first = record(stream="baa", position=100, record_id="r1")  # matches: ends with a
    other = record(stream="xyz", position=150, record_id="r1b")  # filtered out
    bad = record(stream=SLOW, position=200, record_id="r2")
    after = record(stream="aaa", position=300, record_id="r3")
    with pytest.raises(TransformError) as caught:
        mapper.map_batch([first, other, bad, after])
    assert (caught.value.position, caught.value.record_id) == (200, "r2")
    done = caught.value.completed
    assert [m.position if m else None for m in done] == [100, None]
    assert str(caught.value) == (
        f"sink 'orders': subscription:filter:expression: the JSONPath search() pattern "
        f"'{SLOW_SEARCH}' did not finish within {REGEX_SEARCH_LIMIT_S:g} s on '{SLOW}' "
        f"(event r2 at position 200 in '{SLOW}')"
    )


def test_with_a_transformer_the_events_before_the_timeout_are_transformed() -> None:
    from tests.mapping.helpers import js

    mapper = Mapper(
        "orders",
        settings(
            subscription__filter__filterType="JsonPath",
            subscription__filter__expression=FILTER,
            transformer__enabled=True,
            transformer__function=js("function transform(r) { r.value = {t: 1}; }"),
        ),
    )
    with pytest.raises(TransformError) as caught:
        mapper.map_batch([record(stream="baa", position=100), record(stream=SLOW, position=200)])
    [message] = caught.value.completed
    assert message is not None and (message.position, message.value) == (100, b'{"t":1}')


@pytest.mark.parametrize("tolerance", ["fail", "skip", "deadLetter"])
def test_errors_tolerance_decides_what_happens_to_the_event(tolerance: str) -> None:
    seen: list[tuple[Any, ...]] = []
    configured = filter_settings(tolerance)
    poison = PoisonPolicy(configured, "orders", lambda *a: seen.append(a))
    pipeline = RecordingPipeline()
    sender = BatchSender(Mapper("orders", configured), pipeline, False, poison)  # type: ignore[arg-type]
    records = [record("baa", position=100), record(SLOW, position=200), record("ba", position=300)]
    if tolerance == "fail":
        with pytest.raises(TransformError, match="did not finish within"):
            sender.send(records)
        assert pipeline.handed == [("out", 100)]
        return
    sender.send(records)
    middle = "out.dlq" if tolerance == "deadLetter" else None
    assert pipeline.handed == [("out", 100), (middle, 200), ("out", 300)]
    [(kind, cause, reason, position)] = seen
    assert (cause, position) == (Cause.TRANSFORMER, 200)
    assert "JSONPath search() pattern" in reason
    assert kind is (IncidentKind.DEAD_LETTERED if middle else IncidentKind.SKIPPED)


def test_sinks_test_reports_a_jsonpath_pattern_that_runs_out_of_time(tmp_path: Path) -> None:
    root = tmp_path / "sinks.d"
    root.mkdir()
    (root / "slow.yaml").write_text(
        "name: slow\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
        "  subscription:\n    filter:\n      filterType: jsonPath\n"
        f'      expression: "{FILTER}"\n'
    )
    (root / "slow.test.yaml").write_text(
        "cases:\n  - name: a long stream name\n"
        f"    event: {{stream: {SLOW}, type: T, data: {{}}}}\n"
        "    expect: {filtered: true}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "test", "--dir", "sinks.d"],
        capture_output=True,
        text=True,
        timeout=120,  # a bound on a broken test: without the regex bound it runs for hours
        cwd=tmp_path,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "0 passed, 1 failed\n")
    assert result.stderr.splitlines() == [
        "sinks.d/slow.test.yaml:3:12: error: case 'a long stream name': mapping failed: "
        f"subscription:filter:expression: the JSONPath search() pattern '{SLOW_SEARCH}' "
        f"did not finish within {REGEX_SEARCH_LIMIT_S:g} s on '{SLOW}'",
    ]
