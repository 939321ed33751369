"""An event nested too deeply is that event's fault: a TransformError with its position,
which errors:tolerance handles, never an internal failure of the sink."""

from __future__ import annotations

from typing import Any

import pytest

from engine.mapping.pipeline import Mapper, TransformError
from engine.runtime.errors_policy import BatchSender, PoisonPolicy
from tests.mapping.helpers import js, record, settings
from tests.support.fake_adapters import RecordingPipeline


def nested(depth: int) -> bytes:
    """``x`` only at the bottom, so ``$..x`` has to walk every level to find it."""
    return ('{"a":' * depth + '{"x":1}' + "}" * depth).encode()


DEEP_FILTER = {
    "subscription__filter__filterType": "JsonPath",
    "subscription__filter__expression": "$..x",
}
TRANSFORM = {
    "transformer__enabled": True,
    "transformer__function": js("function transform(r) { r.value = {seen: true}; }"),
}


@pytest.mark.parametrize(
    ("configured", "depth", "reason"),
    [
        (DEEP_FILTER, 150, "the JSONPath filter went too deep into the event's data"),
        (TRANSFORM, 100_000, "the event's data is nested too deeply to be read"),
        (DEEP_FILTER, 100_000, "the event's data is nested too deeply to be read"),
    ],
    ids=["filter-150", "transformer-100000", "filter-100000"],
)
def test_a_deep_event_fails_alone_with_its_position(
    configured: dict[str, Any], depth: int, reason: str
) -> None:
    mapper = Mapper("orders", settings(**configured))
    good = record(data=b'{"x": 1}', position=100, record_id="r1")
    deep = record(data=nested(depth), position=200, record_id="r2")
    with pytest.raises(TransformError) as caught:
        mapper.map_batch([good, deep, record(data=b'{"x": 2}', position=300)])
    assert (caught.value.position, caught.value.record_id) == (200, "r2")
    assert reason in str(caught.value)
    [done] = caught.value.completed
    assert done is not None and done.position == 100
    mapper.close()


def test_errors_tolerance_skip_moves_past_a_deep_event() -> None:
    configured = settings(**DEEP_FILTER, errors__tolerance="skip")
    seen: list[tuple[Any, ...]] = []
    pipeline = RecordingPipeline()
    mapper = Mapper("orders", configured)
    sender = BatchSender(
        mapper, pipeline, False, PoisonPolicy(configured, "orders", lambda *a: seen.append(a))
    )  # type: ignore[arg-type]
    sender.send(
        [
            record(data=b'{"x":1}', position=1),
            record(data=nested(150), position=2),
            record(data=b'{"x":3}', position=3),
        ]
    )
    assert pipeline.handed == [("out", 1), (None, 2), ("out", 3)]
    assert len(seen) == 1


def test_the_config_test_path_reports_it_as_a_failed_case() -> None:
    mapper = Mapper("orders", settings(**DEEP_FILTER))
    with pytest.raises(TransformError, match="too deep"):
        mapper.matches(record(data=nested(150)))
