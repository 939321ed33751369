"""JavaScript transforms in embedded V8: results, compile errors, runtime failures."""

from __future__ import annotations

import json

import pytest

from engine.mapping.pipeline import Mapper, TransformError
from engine.specification.errors import PermanentError
from tests.mapping.helpers import js, record, settings

DOC_EXAMPLE = """
function transform(record) {
  let { make, model } = record.value.vehicle;
  record.schemaInfo.subject = 'Vehicle';
  record.value.vehicle.makemodel = `${make} ${model}`;
}
"""
VEHICLE = b'{"vehicle":{"make":"Audi","model":"A6","year":2018}}'


def transformer(source: str, **extra: object) -> Mapper:
    return Mapper(
        "s", settings(transformer__enabled=True, transformer__function=js(source), **extra)
    )


def test_documented_example_changes_value_and_subject() -> None:
    mapper = transformer(DOC_EXAMPLE)
    try:
        message = mapper(record(data=VEHICLE, metadata=b'{"region":"eu"}'))
    finally:
        mapper.close()
    assert message is not None and message.is_transformed
    assert json.loads(message.value) == {
        "vehicle": {"make": "Audi", "model": "A6", "year": 2018, "makemodel": "Audi A6"}
    }
    headers = dict(message.headers)
    assert headers["esdb-record-is-transformed"] == b"true"
    assert headers["esdb-record-schema-subject"] == b"Vehicle"
    assert headers["esdb-record-headers-region"] == b"eu"


def test_transform_sees_the_record_shape_and_sets_headers() -> None:
    source = """
    function transform(r) {
      r.headers.seen = [r.streamId, r.position.streamId, r.streamRevision, r.logPosition,
                        r.schemaInfo.subject, r.schemaInfo.type, r.isTransformed,
                        r.recordId.length, r.timestamp].join('|');
      r.headers.count = 3;
      delete r.headers.region;
    }
    """
    mapper = transformer(source)
    try:
        message = mapper(record(metadata=b'{"region":"eu"}'))
    finally:
        mapper.close()
    assert message is not None
    headers = dict(message.headers)
    assert headers["esdb-record-headers-seen"] == (
        b"order-123|order-123|3|4096|OrderPlaced|json|false|36|2023-11-14T22:13:20.123Z"
    )
    assert headers["esdb-record-headers-count"] == b"3"
    assert "esdb-record-headers-region" not in headers


def test_headers_partition_key_reads_transformed_headers() -> None:
    mapper = transformer(
        "function transform(r) { r.headers.tenant = r.value.region; }",
        partitionKeyExtraction__enabled=True,
        partitionKeyExtraction__source="Headers",
        partitionKeyExtraction__expression="tenant",
    )
    try:
        message = mapper(record())
    finally:
        mapper.close()
    assert message is not None and message.key == b"eu"


def test_non_json_events_pass_untransformed() -> None:
    mapper = transformer("function transform(r) { r.value = 1; }")
    try:
        message = mapper(record(data=b"\x01\x02", is_json=False))
    finally:
        mapper.close()
    assert message is not None
    assert message.value == b"\x01\x02" and not message.is_transformed
    assert "esdb-record-is-transformed" not in dict(message.headers)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "function transform(r) {",
            "transformer:function: the JavaScript does not compile or run: ",
        ),
        (
            "function other(r) {}",
            "transformer:function: the JavaScript must define a function named transform(record)",
        ),
        ("   ", "transformer:function: is empty; it must define transform(record)"),
    ],
)
def test_bad_code_fails_at_construction(source: str, expected: str) -> None:
    with pytest.raises(PermanentError) as caught:
        transformer(source)
    assert str(caught.value).startswith(expected)


def test_not_base64_fails_at_construction() -> None:
    with pytest.raises(PermanentError, match=r"^transformer:function: not valid base64"):
        Mapper("s", settings(transformer__enabled=True, transformer__function="%%%"))


def test_a_throw_is_a_transform_error_with_the_position_never_a_drop() -> None:
    mapper = transformer(
        "function transform(r) { if (r.value.total > 100) throw new Error('too big');"
        " r.value.ok = true; }"
    )
    records = [
        record(data=b'{"total":1}', position=10),
        record(data=b"\x00", is_json=False, position=11),
        record(data=b'{"total":500}', position=12, stream="order-9"),
        record(data=b'{"total":2}', position=13),
    ]
    try:
        with pytest.raises(TransformError) as caught:
            mapper.map_batch(records)
    finally:
        mapper.close()
    error = caught.value
    assert isinstance(error, PermanentError)
    assert error.position == 12
    assert "transform threw: Error: too big" in str(error)
    assert "at position 12 in 'order-9'" in str(error)
    # the records before it are mapped and safe to deliver, in order
    assert [m.position if m else None for m in error.completed] == [10, 11]
    assert error.completed[0] is not None and json.loads(error.completed[0].value)["ok"] is True


def test_an_endless_transform_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.sandbox.transformer as module

    monkeypatch.setattr(module, "CALL_LIMIT_S", 0.2)
    monkeypatch.setattr(module, "PER_RECORD_LIMIT_S", 0.0)
    mapper = transformer("function transform(r) { while (true) {} }")
    try:
        with pytest.raises(TransformError, match=r"did not finish within 0\.2 s") as caught:
            mapper(record(position=77))
    finally:
        mapper.close()
    assert caught.value.position == 77


def test_transformer_with_jsonpath_filter_transforms_only_matches() -> None:
    mapper = transformer(
        "function transform(r) { r.value.seen = true; }",
        subscription__filter__filterType="JsonPath",
        subscription__filter__expression="$.value[?@ == 'eu']",
    )
    try:
        out = mapper.map_batch(
            [
                record(data=b'{"region":"us"}', position=1),
                record(data=b'{"region":"eu"}', position=2),
            ]
        )
    finally:
        mapper.close()
    assert out[0] is None
    assert out[1] is not None and json.loads(out[1].value) == {"region": "eu", "seen": True}


@pytest.mark.parametrize(
    ("use", "name", "why"),
    [
        # Six of these took the process to 1.6 GB under the 256 MiB heap limit.
        (
            "const a = new Uint8Array(2 ** 28); a.fill(1);",
            "Uint8Array",
            "memory outside the transform's heap limit",
        ),
        ("new ArrayBuffer(8);", "ArrayBuffer", "memory outside the transform's heap limit"),
        ("WebAssembly.Memory;", "WebAssembly", "memory outside the transform's heap limit"),
        # An endless callback ran after the call returned and stalled the next one.
        (
            "setTimeout(() => { while (true) {} }, 10);",
            "setTimeout",
            "work after the call returned, outside its time limit",
        ),
    ],
)
def test_what_would_escape_the_limits_fails_the_record_saying_why(
    use: str, name: str, why: str
) -> None:
    mapper = transformer(f"function transform(r) {{ {use} r.value.ok = true; }}")
    try:
        with pytest.raises(TransformError) as caught:
            mapper.map_batch([record(position=5)])
    finally:
        mapper.close()
    assert caught.value.position == 5
    assert f"TypeError: {name} is not available in a transform ({why})" in str(caught.value)


def test_the_unavailable_names_cannot_be_restored() -> None:
    mapper = transformer(
        "try { Object.defineProperty(globalThis, 'Uint8Array', {value: Array}); } catch (e) {}\n"
        "try { globalThis.setTimeout = (f) => f(); } catch (e) {}\n"
        "function transform(r) {\n"
        "  if (r.value.use === 'timer') { setTimeout(() => {}, 1); } else { new Uint8Array(1); }\n"
        "}"
    )
    try:
        for use, name in (("timer", "setTimeout"), ("array", "Uint8Array")):
            with pytest.raises(TransformError, match=f"{name} is not available in a transform"):
                mapper.map_batch([record(data=json.dumps({"use": use}).encode(), position=1)])
    finally:
        mapper.close()
