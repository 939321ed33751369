"""Server-side filters as esdbclient sends them: regex on type or stream, include/exclude."""

from __future__ import annotations

import grpc
import pytest

from tests.fixtures.kurrentdb_library import shared_pb2, streams_pb2
from tests.integration.standin.helpers import append, events, head

pytestmark = pytest.mark.integration


@pytest.fixture
def mixed(kurrentdb):
    """Three streams with three event types, written after ``start``."""
    client = kurrentdb.client()
    prefix = kurrentdb.unique("flt")
    start = head(client)
    append(client, f"{prefix}-orders", events("OrderPlaced", 2) + events("OrderPlacedV2", 1))
    append(client, f"{prefix}-invoices", events("Invoice", 2))
    client.set_stream_metadata(f"{prefix}-invoices", metadata={"owner": "billing"})
    return client, prefix, start


def _ours(got, prefix):
    return [(e.stream_name, e.type) for e in got if e.stream_name.lstrip("$").startswith(prefix)]


def test_default_exclude_filter_hides_system_events(mixed):
    client, prefix, start = mixed
    default = _ours(client.read_all(commit_position=start), prefix)
    assert ("$$" + prefix + "-invoices", "$metadata") not in default
    assert len(default) == 5
    unfiltered = _ours(client.read_all(commit_position=start, filter_exclude=()), prefix)
    assert ("$$" + prefix + "-invoices", "$metadata") in unfiltered
    assert len(unfiltered) == 6


def test_include_by_event_type_is_anchored_per_esdbclient_join(mixed):
    client, prefix, start = mixed
    one = _ours(client.read_all(commit_position=start, filter_include=["OrderPlaced"]), prefix)
    assert [t for _, t in one] == ["OrderPlaced", "OrderPlaced"]
    # esdbclient joins patterns as '^a|b$' (not grouped): the first alternative is only
    # anchored at the start, so 'OrderPlacedV2' matches too. The server applies it as given.
    two = _ours(
        client.read_all(commit_position=start, filter_include=["OrderPlaced", "Invoice"]), prefix
    )
    assert [t for _, t in two] == [
        "OrderPlaced",
        "OrderPlaced",
        "OrderPlacedV2",
        "Invoice",
        "Invoice",
    ]


def test_exclude_by_event_type(mixed):
    client, prefix, start = mixed
    got = _ours(
        client.read_all(commit_position=start, filter_exclude=["OrderPlaced.*", r"\$.*"]), prefix
    )
    assert [t for _, t in got] == ["Invoice", "Invoice"]


def test_include_and_exclude_by_stream_name(mixed):
    client, prefix, start = mixed
    included = _ours(
        client.read_all(
            commit_position=start, filter_include=[f"{prefix}-orders"], filter_by_stream_name=True
        ),
        prefix,
    )
    assert included == [(f"{prefix}-orders", "OrderPlaced")] * 2 + [
        (f"{prefix}-orders", "OrderPlacedV2")
    ]
    excluded = _ours(
        client.read_all(
            commit_position=start,
            filter_exclude=[f"{prefix}-orders", r"\$.*"],
            filter_by_stream_name=True,
        ),
        prefix,
    )
    assert excluded == [(f"{prefix}-invoices", "Invoice")] * 2


def test_prefix_filter_on_event_type(kurrentdb, mixed):
    # esdbclient only sends regex filters; prefix filters are checked with a plain stub.
    _, prefix, start = mixed
    if "tls=false" not in kurrentdb.url.lower():
        pytest.skip("the plain stub speaks to insecure servers only")
    target = kurrentdb.url.split("://", 1)[1].split("?", 1)[0]
    options = streams_pb2.ReadReq.Options(
        all=streams_pb2.ReadReq.Options.AllOptions(
            position=streams_pb2.ReadReq.Options.Position(
                commit_position=start, prepare_position=start
            )
        ),
        count=1000,
        filter=streams_pb2.ReadReq.Options.FilterOptions(
            event_type=streams_pb2.ReadReq.Options.FilterOptions.Expression(
                prefix=["Invoice", "OrderPlacedV"]
            ),
            max=32,
            checkpointIntervalMultiplier=1,
        ),
        uuid_option=streams_pb2.ReadReq.Options.UUIDOption(string=shared_pb2.Empty()),
    )
    with grpc.insecure_channel(target) as channel:
        read = channel.unary_stream(
            "/event_store.client.streams.Streams/Read",
            request_serializer=streams_pb2.ReadReq.SerializeToString,
            response_deserializer=streams_pb2.ReadResp.FromString,
        )
        replies = list(read(streams_pb2.ReadReq(options=options), timeout=10))
    got = [
        (r.event.event.stream_identifier.stream_name.decode(), r.event.event.metadata["type"])
        for r in replies
        if r.WhichOneof("content") == "event"
    ]
    got = [g for g in got if g[0].startswith(prefix)]
    assert got == [
        (f"{prefix}-orders", "OrderPlacedV2"),
        (f"{prefix}-invoices", "Invoice"),
        (f"{prefix}-invoices", "Invoice"),
    ]


def test_a_regex_with_a_dotnet_named_group_filters_like_kurrentdb(mixed):
    # KurrentDB's filters are .NET regexes: (?<name>...) is a named group there.
    client, prefix, start = mixed
    got = _ours(
        client.read_all(commit_position=start, filter_include=[r"(?<kind>Order)Placed(V2)?"]),
        prefix,
    )
    assert [t for _, t in got] == ["OrderPlaced", "OrderPlaced", "OrderPlacedV2"]
