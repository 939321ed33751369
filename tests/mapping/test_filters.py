"""Subscription plans: scope x filterType x expression, and what the server will match."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from engine.mapping.filters import (
    SYSTEM_EVENTS_EXCLUDE,
    ServerFilter,
    SubscriptionPlan,
    exclude_regex,
    include_regex,
    plan_subscription,
)
from engine.specification.errors import PermanentError
from tests.fixtures.kurrentdb_library import (
    DEFAULT_EXCLUDE_FILTER,
    LIBRARY,
    construct_filter_exclude_regex,
    construct_filter_include_regex,
)
from tests.mapping.helpers import settings


def plan(scope: str = "Unspecified", expression: str = "", kind: str = "Unspecified"):
    return plan_subscription(
        settings(
            subscription__filter__scope=scope,
            subscription__filter__filterType=kind,
            subscription__filter__expression=expression,
        )
    )


def server_match(p: SubscriptionPlan, stream: str, event_type: str = "T") -> bool:
    """What the server does with the very regex the client sends: a search."""
    if p.stream_name is not None:
        return stream == p.stream_name
    if p.filter_include:
        regex = construct_filter_include_regex(p.filter_include)
    elif p.filter_exclude:
        regex = construct_filter_exclude_regex(p.filter_exclude)
    else:
        return True
    subject = stream if p.filter_by_stream_name else event_type
    return re.search(regex, subject) is not None


def test_regex_strings_are_the_clients() -> None:
    patterns = ("(?:a)[\\s\\S]*", "(?:b)")
    assert include_regex(patterns) == construct_filter_include_regex(patterns)
    assert exclude_regex(patterns) == construct_filter_exclude_regex(patterns)
    # The engine always sends its own exclusion, so both libraries read the same events;
    # kurrentdbclient's default also hides the event type "Result", the engine does not.
    extra = () if LIBRARY == "esdbclient" else ("Result",)
    assert tuple(DEFAULT_EXCLUDE_FILTER) == SYSTEM_EVENTS_EXCLUDE + extra


def test_quickstart_plain_name_on_streams_is_that_stream() -> None:
    assert plan("Stream", "example-stream") == SubscriptionPlan("example-stream")
    # unspecified scope reads stream ids too
    assert plan("Unspecified", "example-stream") == SubscriptionPlan("example-stream")


def test_documented_prefix_example_ending_with_a_separator_is_a_prefix() -> None:
    p = plan("Stream", "prefix-")
    assert p.stream_name is None and p.filter_by_stream_name
    assert p.filter_include == ("(?:prefix-)[\\s\\S]*",)
    assert server_match(p, "prefix-1") and server_match(p, "prefix-")
    assert not server_match(p, "other-prefix-1")


def test_stream_id_type_subscribes_to_one_stream_whatever_the_scope() -> None:
    assert plan("Record", "orders-1", "StreamId") == SubscriptionPlan("orders-1")
    assert plan("Stream", "$ce-orders", "StreamId") == SubscriptionPlan("$ce-orders")


def test_several_stream_ids_are_exact_matches_on_all() -> None:
    p = plan("Stream", "a.1, b", "StreamId")
    assert p.stream_name is None and p.filter_by_stream_name
    assert server_match(p, "a.1") and server_match(p, "b")
    assert not server_match(p, "a11") and not server_match(p, "bb") and not server_match(p, "xb")


def test_prefix_list_matches_only_at_the_start_and_is_grouped() -> None:
    p = plan("Stream", "order-, invoice-", "Prefix")
    assert server_match(p, "order-1") and server_match(p, "invoice-9")
    # ungrouped '^order\-|invoice\-$' would accept these two:
    assert not server_match(p, "x-invoice-9")
    assert not server_match(p, "xorder-1")


def test_prefix_on_record_scope_filters_event_types() -> None:
    p = plan("Record", "Order,Invoice", "Prefix")
    assert not p.filter_by_stream_name
    assert server_match(p, "anything", "OrderPlaced")
    assert server_match(p, "anything", "InvoiceIssued")
    assert not server_match(p, "anything", "CustomerOrder")


def test_regex_keeps_search_semantics_and_alternation_is_grouped() -> None:
    p = plan("Record", "^Order|Invoice$", "Regex")
    assert server_match(p, "s", "OrderPlaced")
    assert server_match(p, "s", "OldInvoice")
    assert not server_match(p, "s", "InvoiceIssued")
    assert not server_match(p, "s", "NewOrder")
    contains = plan("Stream", "eu", "Regex")
    assert server_match(contains, "order-eu-1") and not server_match(contains, "order-us-1")


def test_regex_with_a_leading_global_flag_still_compiles_after_the_clients_caret() -> None:
    p = plan("Stream", "(?i)^orders", "Regex")
    assert p.filter_include == ("(?:[\\s\\S]*?(?i:^orders)[\\s\\S]*)",)
    assert server_match(p, "ORDERS-1") and not server_match(p, "x-orders")


def test_invalid_regex_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as caught:
        plan("Stream", "orders-(", "Regex")
    assert str(caught.value).startswith(
        "subscription:filter:expression: invalid regular expression 'orders-(': "
    )


def test_empty_expression_with_scope_reads_everything_including_system_events() -> None:
    for scope in ("Stream", "Record"):
        p = plan(scope, "", "Regex")
        assert p == SubscriptionPlan(None)
        assert server_match(p, "$stats", "$statsCollected")


def test_empty_expression_without_scope_hides_system_events() -> None:
    p = plan()
    assert p == SubscriptionPlan(None, filter_exclude=SYSTEM_EVENTS_EXCLUDE)
    assert server_match(p, "order-1", "OrderPlaced")
    assert not server_match(p, "$stats", "$statsCollected")
    assert not server_match(p, "$persistentsubscription", "PersistentConfig1")


def test_jsonpath_is_evaluated_in_the_engine_and_hides_system_events() -> None:
    expression = "$[?($.value.vehicle.year==2018)]"
    for kind in ("JsonPath", "Unspecified"):
        p = plan("Unspecified", expression, kind)
        assert p.jsonpath == expression
        assert p.filter_exclude == SYSTEM_EVENTS_EXCLUDE and p.stream_name is None


def test_invalid_jsonpath_with_explicit_type_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="invalid JSONPath query"):
        plan("Record", "$.value[", "JsonPath")


@pytest.mark.parametrize(
    ("scope", "expression", "expected"),
    [
        ("Stream", "^order-\\d+$", "regex"),
        ("Stream", "orders|invoices", "regex"),
        ("Stream", "$ce-orders", "stream"),  # not JSONPath, no metacharacter → a name
        ("Stream", "orders.v2", "stream"),  # a lone '.' is part of a name
        ("Stream", "a-,b-", "prefix"),
        ("Stream", "orders.", "prefix"),
        ("Record", "OrderPlaced", "prefix"),
        ("Record", "Order(", "prefix"),  # not a valid regex → a prefix
    ],
)
def test_no_filter_type_guesses(scope: str, expression: str, expected: str) -> None:
    p = plan(scope, expression)
    kind = (
        "stream"
        if p.stream_name is not None
        else "regex"
        if "?:[" in p.filter_include[0]
        else "prefix"
    )
    assert kind == expected


def test_server_filter_emulation_agrees_with_the_clients_regex() -> None:
    cases = [plan("Stream", "order-, inv", "Prefix"), plan("Record", "^A|B$", "Regex"), plan()]
    subjects = ["order-1", "inv", "xinv", "A1", "1B", "AB", "$x", "PersistentConfig7", "B"]
    for p in cases:
        emulated = ServerFilter(p)
        for s in subjects:
            assert emulated.matches(s, s) == server_match(p, s, s), (p, s)


def test_describe_names_the_regex() -> None:
    assert plan("Stream", "example-stream").describe() == "stream 'example-stream'"
    assert (
        plan("Record", "A", "Prefix").describe() == "$all where event types match ^(?:A)[\\s\\S]*$"
    )


_name = st.text(alphabet="ab-.$|()*+?[]{}^\\", min_size=1, max_size=6)


@hypothesis_settings(deadline=None)  # a loaded machine must not fail the test
@given(prefixes=st.lists(_name, min_size=1, max_size=3), stream=st.text(max_size=10))
def test_prefix_filter_is_exactly_startswith(prefixes: list[str], stream: str) -> None:
    expression = ",".join(prefixes)
    if "," in "".join(prefixes) or not all(p.strip() for p in prefixes):
        return
    p = plan("Stream", expression, "Prefix")
    wanted = any(stream.startswith(x.strip()) for x in prefixes)
    assert server_match(p, stream) == wanted


_regex = st.lists(
    st.sampled_from(["a", "b", "-", ".", "^", "$", "|", "a*", "(a|b)", "[ab]", "b+", "(?i)A"]),
    min_size=1,
    max_size=5,
).map("".join)


@hypothesis_settings(deadline=None)
@given(expression=_regex, subject=st.text(alphabet="abAB-", max_size=8))
def test_regex_filter_means_a_search_of_the_users_regex(expression: str, subject: str) -> None:
    try:
        wanted = re.search(expression, subject) is not None
    except re.error:
        return  # not a valid regex (e.g. a global flag in the middle): refused elsewhere
    for scope in ("Stream", "Record"):
        p = plan(scope, expression, "Regex")
        assert server_match(p, subject, subject) == wanted
