"""The root-only filter rewrite gives the same answers as evaluating the query as written."""

from __future__ import annotations

from typing import Any

import jsonpath_rfc9535
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.mapping.jsonpath import JsonPathFilter, root_only_rewrite


@pytest.mark.parametrize(
    ("expression", "rewritten"),
    [
        ("$[?($.value.vehicle.year==2018)]", "$[?($.r.value.vehicle.year==2018)]"),
        ("$[?$.a && $['b'][0] == 1]", "$[?$.r.a && $.r['b'][0] == 1]"),
        ("$[?match($.s, 'a$|@b')]", "$[?match($.r.s, 'a$|@b')]"),  # `$`, `@` in a string stay
        ('$[?$.s == "it\\"s $"]', '$[?$.r.s == "it\\"s $"]'),
        ("$[?length($) > 3]", "$[?length($.r) > 3]"),
        # Shapes that must run as written:
        ("$[?@.a == 1]", None),  # relative to each member
        ("$[?$.a == 1 && @.b]", None),
        ("$[?$.a][?$.b]", None),  # two segments
        ("$[?$.a, ?$.b]", None),  # two selectors
        ("$.value[?$.a]", None),
        ("$.streamId", None),
        ("$[?$.s == 'open]", None),  # unclosed string
    ],
)
def test_root_only_rewrite(expression: str, rewritten: str | None) -> None:
    assert root_only_rewrite(expression) == rewritten


DOCUMENT = {
    "recordId": "0b4bd0c6",
    "streamId": "orders-1",
    "streamRevision": 3,
    "logPosition": 4096,
    "isRedacted": False,
    "schemaInfo": {"subject": "OrderPlaced", "type": "json"},
    "headers": {"region": "eu", "$correlationId": "c-1"},
    "value": {"vehicle": {"make": "Audi", "year": 2018}, "tags": ["a", "b$"], "total": 12.5},
}

PATHS = [
    "$.streamRevision",
    "$.value.vehicle.year",
    "$.value.total",
    "$.value.tags[1]",
    "$['headers']['$correlationId']",
    "$.headers.region",
    "$.missing",
    "$.schemaInfo.subject",
]
LITERALS = ["3", "2018", "12.5", "'b$'", "'c-1'", "'eu'", "'OrderPlaced'", "true", "null", "'@x'"]
OPERATORS = ["==", "!=", "<", ">=", "<=", ">"]


def comparison() -> st.SearchStrategy[str]:
    return st.builds(
        lambda p, o, v: f"{p} {o} {v}",
        st.sampled_from(PATHS),
        st.sampled_from(OPERATORS),
        st.sampled_from(LITERALS),
    )


def filter_expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        comparison(),
        st.sampled_from(PATHS),  # existence test
        st.builds(lambda p: f"length({p}) > 1", st.sampled_from(PATHS)),
        st.builds(lambda p: f"match({p}, '.*$')", st.sampled_from(PATHS)),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"({a} && {b})", inner, inner),
            st.builds(lambda a, b: f"({a} || {b})", inner, inner),
            st.builds(lambda a: f"!({a})", inner),
        ),
        max_leaves=4,
    )


def as_written(expression: str, document: dict[str, Any]) -> bool:
    query = jsonpath_rfc9535.compile(expression)
    return next(iter(query.finditer(document)), None) is not None


@settings(max_examples=300, deadline=None)
@given(expr=filter_expressions(), flip=st.booleans())
def test_rewritten_filters_answer_like_the_query_as_written(expr: str, flip: bool) -> None:
    expression = f"$[?{expr}]"
    document = dict(DOCUMENT, streamRevision=4) if flip else DOCUMENT
    assert root_only_rewrite(expression) is not None
    assert JsonPathFilter(expression).matches(document) is as_written(expression, document)


def test_a_query_as_written_is_kept_when_it_is_not_root_only() -> None:
    f = JsonPathFilter("$[?@.subject == 'OrderPlaced']")
    assert f.matches(DOCUMENT)
    assert not f.matches(dict(DOCUMENT, schemaInfo={"subject": "Other"}))
