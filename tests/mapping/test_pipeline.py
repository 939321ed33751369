"""Mapper: record → Kafka message (value, timestamp, headers, key, JSONPath filter)."""

from __future__ import annotations

import base64
import re
import uuid

import pytest

from engine.mapping.headers import iso_ms, metadata_headers
from engine.mapping.pipeline import Mapper
from engine.specification.errors import PermanentError
from engine.specification.model import Message
from tests.mapping.helpers import record, settings

ESDB_NAMES = [
    "esdb-connector-id",
    "esdb-request-id",
    "esdb-request-date",
    "esdb-record-id",
    "esdb-record-timestamp",
    "esdb-record-redacted",
    "esdb-record-stream-id",
    "esdb-record-stream-revision",
    "esdb-record-log-position",
    "esdb-record-schema-subject",
    "esdb-record-schema-type",
]


def test_plain_message_carries_the_data_unchanged_and_every_esdb_header() -> None:
    mapper = Mapper("orders-sink", settings(defaultHeaders={"X-Source": "kurrentdb"}))
    rec = record(data=b'{"b":1,  "a":2}')
    message = mapper(rec)
    assert message is not None
    assert message.topic == "out"
    assert message.value == b'{"b":1,  "a":2}'  # not re-serialised
    assert message.key is None  # no partition key in a KurrentDB event → producer spreads
    assert message.timestamp_ms == 1_700_000_000_123
    assert message.position == 4096 and message.record_id == rec.record_id
    assert not message.is_transformed
    names = [n for n, _ in message.headers]
    assert names == ["X-Source", *ESDB_NAMES]
    h = dict(message.headers)
    assert h["X-Source"] == b"kurrentdb"
    assert h["esdb-connector-id"] == b"orders-sink"
    assert uuid.UUID(h["esdb-request-id"].decode()).version == 4
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", h["esdb-request-date"])
    assert h["esdb-record-id"] == rec.record_id.encode()
    assert h["esdb-record-timestamp"] == b"2023-11-14T22:13:20.123Z"
    assert h["esdb-record-redacted"] == b"false"
    assert h["esdb-record-stream-id"] == b"order-123"
    assert h["esdb-record-stream-revision"] == b"3"
    assert h["esdb-record-log-position"] == b"4096"
    assert h["esdb-record-schema-subject"] == b"OrderPlaced"
    assert h["esdb-record-schema-type"] == b"json"


def test_request_ids_differ_per_message() -> None:
    mapper = Mapper("s", settings())
    ids = set()
    for _ in range(100):
        message = mapper(record())
        assert message is not None
        ids.add(dict(message.headers)["esdb-request-id"])
    assert len(ids) == 100


def test_binary_event_keeps_bytes_and_says_so() -> None:
    message = Mapper("s", settings())(record(data=b"\x00\xff", is_json=False))
    assert message is not None
    assert message.value == b"\x00\xff"
    assert dict(message.headers)["esdb-record-schema-type"] == b"bytes"


def test_metadata_becomes_record_headers_without_system_keys() -> None:
    meta = b'{"region":"eu","$correlationId":"c-1","count":3,"tags":["a"],"none":null}'
    message = Mapper("s", settings())(record(metadata=meta))
    assert message is not None
    extra = [(n, v) for n, v in message.headers if n.startswith("esdb-record-headers-")]
    assert extra == [
        ("esdb-record-headers-region", b"eu"),
        ("esdb-record-headers-count", b"3"),
        ("esdb-record-headers-tags", b'["a"]'),
        ("esdb-record-headers-none", b"null"),
    ]


def test_system_metadata_keys_go_out_when_ignore_system_is_false() -> None:
    mapper = Mapper("s", settings(headers__ignoreSystem=False))
    message = mapper(record(metadata=b'{"$correlationId":"c-1"}'))
    assert message is not None
    assert ("esdb-record-headers-$correlationId", b"c-1") in message.headers


@pytest.mark.parametrize("metadata", [b"", b"{}", b"[1,2]", b'"text"', b"not json", b"\xff\xfe"])
def test_metadata_that_is_not_an_object_gives_no_record_headers(metadata: bytes) -> None:
    message = Mapper("s", settings())(record(metadata=metadata))
    assert message is not None
    assert not [n for n, _ in message.headers if n.startswith("esdb-record-headers-")]
    assert metadata_headers(metadata) == {}


@pytest.mark.parametrize(
    "metadata",
    [b'{"k":"v"}', b' {"k":"v"}', b'\t{"k":"v"}\r\n', b'{"k":"v"}   '],
)
def test_metadata_may_be_wrapped_in_json_whitespace(metadata: bytes) -> None:
    assert metadata_headers(metadata) == {"k": "v"}


@pytest.mark.parametrize("metadata", [b'{"k":"v"} x', b'{"k":"v"}{}', b'{"k":"v"}\x0c'])
def test_metadata_with_anything_after_the_object_is_not_json(metadata: bytes) -> None:
    # as json.loads judges it: only JSON whitespace may follow the value
    assert metadata_headers(metadata) == {}


def test_iso_ms_formats_utc_with_milliseconds() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"


def test_partition_key_from_stream_suffix() -> None:
    mapper = Mapper(
        "s",
        settings(
            partitionKeyExtraction__enabled=True, partitionKeyExtraction__source="StreamSuffix"
        ),
    )
    keys = [mapper(record(stream=s)).key for s in ("user-123", "a-b-c", "plain", "ends-")]  # type: ignore[union-attr]
    assert keys == [b"123", b"c", b"plain", b"ends-"]


def test_partition_key_disabled_wins_over_a_source() -> None:
    mapper = Mapper(
        "s",
        settings(partitionKeyExtraction__enabled=False, partitionKeyExtraction__source="Stream"),
    )
    message = mapper(record())
    assert message is not None and message.key is None


def test_partition_key_source_partition_key_has_no_key() -> None:
    mapper = Mapper(
        "s",
        settings(
            partitionKeyExtraction__enabled=True, partitionKeyExtraction__source="PartitionKey"
        ),
    )
    message = mapper(record())
    assert message is not None and message.key is None


def test_partition_key_stream_with_regex_and_fallback() -> None:
    mapper = Mapper(
        "s",
        settings(
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Stream",
            partitionKeyExtraction__expression="^(.*)_data$",
        ),
    )
    assert mapper(record(stream="customer-1_data")).key == b"customer-1"  # type: ignore[union-attr]
    assert mapper.key_fallbacks == 0
    # no match: the whole stream id, counted
    assert mapper(record(stream="customer-1")).key == b"customer-1"  # type: ignore[union-attr]
    assert mapper.key_fallbacks == 1


def test_partition_key_stream_regex_without_group_uses_the_match() -> None:
    mapper = Mapper(
        "s",
        settings(
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Stream",
            partitionKeyExtraction__expression="[a-z]+",
        ),
    )
    assert mapper(record(stream="123-abc-9")).key == b"abc"  # type: ignore[union-attr]


def test_partition_key_stream_without_expression_is_the_stream_id() -> None:
    mapper = Mapper(
        "s", settings(partitionKeyExtraction__enabled=True, partitionKeyExtraction__source="Stream")
    )
    assert mapper(record(stream="order-9")).key == b"order-9"  # type: ignore[union-attr]


def test_partition_key_from_headers_joined_with_dash_missing_skipped() -> None:
    mapper = Mapper(
        "s",
        settings(
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Headers",
            partitionKeyExtraction__expression="key1, key2",
        ),
    )
    both = record(metadata=b'{"key1":"value1","key2":"value2"}')
    assert mapper(both).key == b"value1-value2"  # type: ignore[union-attr]
    assert mapper(record(metadata=b'{"key2":"value2"}')).key == b"value2"  # type: ignore[union-attr]
    assert mapper.key_fallbacks == 0
    assert mapper(record(stream="order-5")).key == b"order-5"  # type: ignore[union-attr]
    assert mapper.key_fallbacks == 1


def test_partition_key_headers_without_names_cannot_start() -> None:
    with pytest.raises(PermanentError) as caught:
        Mapper(
            "s",
            settings(
                partitionKeyExtraction__enabled=True, partitionKeyExtraction__source="Headers"
            ),
        )
    assert str(caught.value) == (
        "partitionKeyExtraction:expression: source Headers needs the metadata keys to use "
        "(comma-separated, e.g. 'key1,key2')"
    )


def test_invalid_partition_key_regex_cannot_start() -> None:
    with pytest.raises(
        PermanentError, match=r"^partitionKeyExtraction:expression: invalid regular"
    ):
        Mapper(
            "s",
            settings(
                partitionKeyExtraction__enabled=True,
                partitionKeyExtraction__source="Stream",
                partitionKeyExtraction__expression="(",
            ),
        )


VEHICLE = b'{"vehicle":{"make":"Audi","model":"A6","year":2018}}'


def jsonpath_mapper(expression: str) -> Mapper:
    return Mapper(
        "s",
        settings(
            subscription__filter__filterType="JsonPath",
            subscription__filter__expression=expression,
        ),
    )


def test_jsonpath_filter_on_the_documented_record_shape() -> None:
    mapper = jsonpath_mapper("$[?($.value.vehicle.year==2018)]")
    assert mapper(record(data=VEHICLE)) is not None
    assert mapper(record(data=VEHICLE.replace(b"2018", b"2019"))) is None


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("$.streamId", True),
        ("$.position.streamId", True),
        ("$[?@.subject == 'OrderPlaced']", True),  # schemaInfo.subject via a child filter
        ("$.schemaInfo[?@ == 'bytes']", False),
        ("$.headers.region", True),
        ("$.headers.missing", False),
        ("$[?($.streamRevision == 3 && $.logPosition == 4096)]", True),
        ("$[?($.timestamp == '2023-11-14T22:13:20.123Z')]", True),
        ("$[?($.recordId == '0b4bd0c6-8a2e-4c1e-9a57-2d3a1b7e9f10')]", True),
        ("$[?($.isRedacted == false && $.isTransformed == false)]", True),
        ("$.value.total", True),
        ("$.value.nothing", False),
    ],
)
def test_jsonpath_sees_record_fields(expression: str, selected: bool) -> None:
    mapper = jsonpath_mapper(expression)
    rec = record(metadata=b'{"region":"eu"}')
    assert (mapper(rec) is not None) is selected
    assert mapper.matches(rec) is selected


def test_jsonpath_never_matches_non_json_events() -> None:
    mapper = jsonpath_mapper("$.streamId")
    assert mapper(record(is_json=False)) is None
    assert mapper(record(data=b"{not json")) is None


def test_matches_applies_the_server_side_filter_too() -> None:
    mapper = Mapper(
        "s",
        settings(
            subscription__filter__scope="Stream",
            subscription__filter__filterType="Prefix",
            subscription__filter__expression="order-",
        ),
    )
    assert mapper.matches(record(stream="order-1"))
    assert not mapper.matches(record(stream="invoice-1"))


PER_CALL_HEADERS = ("esdb-request-id", "esdb-request-date")  # new on every mapping


def comparable(message: Message | None) -> Message | None:
    """The message with the headers that differ on every call left out."""
    if message is None:
        return None
    return message._replace(
        headers=tuple(h for h in message.headers if h[0] not in PER_CALL_HEADERS)
    )


@pytest.mark.parametrize("transform", [False, True])
def test_map_batch_equals_per_record_mapping(transform: bool) -> None:
    source = "function transform(r) { r.value.seen = r.value.n; r.headers.Extra = 'x'; }"
    mapper = Mapper(
        "s",
        settings(
            subscription__filter__filterType="JsonPath",
            subscription__filter__expression="$.value[?@ > 10]",
            partitionKeyExtraction__enabled=True,
            partitionKeyExtraction__source="Headers",
            partitionKeyExtraction__expression="tenant",
            defaultHeaders={"X-Source": "kurrentdb"},
            transformer__enabled=transform,
            transformer__function=base64.b64encode(source.encode()).decode(),
        ),
    )
    records = [
        record(
            stream=f"order-{n}",
            data=b'{"n":%d}' % n,
            metadata=b'{"tenant":"t%d","note":"m%d"}' % (n, n),
            position=n,
            record_id=f"id-{n}",
        )
        for n in (5, 20, 7, 30)
    ]
    batch = [comparable(m) for m in mapper.map_batch(records)]
    single = [comparable(mapper(r)) for r in records]
    assert batch == single
    assert [m.position if m else None for m in batch] == [None, 20, None, 30]
    # The comparison covers keys, headers and values, not only which records went out.
    kept = [m for m in batch if m is not None]
    assert [m.key for m in kept] == [b"t20", b"t30"]
    assert [dict(m.headers)["esdb-record-headers-note"] for m in kept] == [b"m20", b"m30"]
    assert all(dict(m.headers)["X-Source"] == b"kurrentdb" for m in kept)
    if transform:
        assert [m.value for m in kept] == [b'{"n":20,"seen":20}', b'{"n":30,"seen":30}']
        assert all(dict(m.headers)["esdb-record-headers-Extra"] == b"x" for m in kept)
