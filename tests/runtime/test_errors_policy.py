"""PoisonPolicy: which errors are poison, and what replaces a poison message."""

from __future__ import annotations

import pytest

from engine.adapters.kafka import Fenced, Refused
from engine.mapping.pipeline import TransformError
from engine.runtime.errors_policy import PoisonPolicy
from engine.runtime.tracker import Failure
from engine.runtime.worker_api import Cause, IncidentKind
from engine.specification.errors import PermanentError, TemporaryError
from engine.specification.model import Message, Record
from engine.specification.settings import SinkSettings
from tests.support.fake_adapters import RecordingPipeline

REFUSED = Refused("kafka: MSG_SIZE_TOO_LARGE: Broker: Message size too large")


def policy(tolerance: str, topic: str | None = None) -> tuple[PoisonPolicy, list[tuple]]:  # type: ignore[type-arg]
    seen: list[tuple] = []  # type: ignore[type-arg]
    settings = SinkSettings.from_canonical(
        {"topic": "orders", "errors:tolerance": tolerance, "errors:deadLetterTopic": topic}
    )
    return PoisonPolicy(settings, "orders-sink", lambda *a: seen.append(a)), seen


def message(position: int) -> Message:
    return Message("orders", b"k", b'{"n":1}', (("esdb-record-id", b"r1"),), 1000, position, "r1")


def test_only_a_refused_message_is_poison() -> None:
    skip, _ = policy("skip")
    assert skip.tolerates(REFUSED)
    assert not skip.tolerates(TemporaryError("kafka: _MSG_TIMED_OUT: timed out"))
    assert not skip.tolerates(Fenced("kafka: fenced"))
    assert not skip.tolerates(PermanentError("kafka: TOPIC_AUTHORIZATION_FAILED: denied"))
    fail, _ = policy("fail")
    assert fail.failing and not fail.tolerates(REFUSED)


def test_skip_replaces_the_refused_message_with_nothing() -> None:
    skip, seen = policy("skip")
    entries = [(message(10), 10, None), (None, 15, None), (message(20), 20, None)]
    assert skip.replace(entries, Failure(20, REFUSED)) == [*entries[:2], (None, 20, None)]
    assert seen == [(IncidentKind.SKIPPED, Cause.DELIVERY, str(REFUSED), 20)]


def test_dead_letter_keeps_value_and_headers_and_names_the_error() -> None:
    dlq, seen = policy("deadLetter", "orders.dlq")
    [(letter, position, _)] = dlq.replace([(message(20), 20, None)], Failure(20, REFUSED))
    assert position == 20 and letter is not None
    assert (letter.topic, letter.key, letter.value) == ("orders.dlq", b"k", b'{"n":1}')
    assert letter.headers == (
        ("esdb-record-id", b"r1"),
        ("sinks-error-reason", str(REFUSED).encode()),
        ("sinks-error-cause", b"delivery"),
        ("sinks-error-sink", b"orders-sink"),
        ("sinks-error-position", b"20"),
        ("sinks-error-topic", b"orders"),
    )
    assert seen == [(IncidentKind.DEAD_LETTERED, Cause.DELIVERY, str(REFUSED), 20)]
    # The dead-letter topic refused the dead letter too: the sink must stop.
    with pytest.raises(Refused):
        dlq.replace([(letter, 20, None)], Failure(20, REFUSED))


def test_a_transformer_failure_dead_letters_the_untransformed_event() -> None:
    dlq, seen = policy("deadLetter", "orders.dlq")
    record = Record("r1", "order-7", 3, 2208, 1000, "Placed", True, b'{"n":5}', b'{"tenant":"a"}')
    error = TransformError("sink 'orders': Error: boom", position=2208)
    letter = dlq.record_failed(record, error)
    assert letter is not None
    assert (letter.topic, letter.key, letter.value) == ("orders.dlq", b"order-7", b'{"n":5}')
    assert dict(letter.headers)["tenant"] == b"a"
    assert dict(letter.headers)["sinks-error-cause"] == b"transformer"
    assert dict(letter.headers)["sinks-error-topic"] == b"orders"
    assert seen == [(IncidentKind.DEAD_LETTERED, Cause.TRANSFORMER, str(error), 2208)]
    skip, _ = policy("skip")
    assert skip.record_failed(record, error) is None


@pytest.mark.parametrize("tolerance", ["fail", "skip", "deadLetter"])
def test_a_partition_key_regex_timeout_is_a_poison_event(tolerance: str) -> None:
    from engine.mapping.pipeline import Mapper
    from engine.runtime.errors_policy import BatchSender
    from tests.mapping.helpers import record

    canonical = {
        "topic": "orders",
        "partitionKeyExtraction:enabled": True,
        "partitionKeyExtraction:source": "Stream",
        "partitionKeyExtraction:expression": "^(a|a)+$",  # exponential on the slow stream
        "errors:tolerance": tolerance,
        "errors:deadLetterTopic": "orders.dlq" if tolerance == "deadLetter" else None,
    }
    settings = SinkSettings.from_canonical(canonical)
    seen: list[tuple] = []  # type: ignore[type-arg]
    poison = PoisonPolicy(settings, "orders", lambda *a: seen.append(a))
    mapper = Mapper("orders", settings)
    pipeline = RecordingPipeline()
    sender = BatchSender(mapper, pipeline, False, poison)  # type: ignore[arg-type]
    records = [
        record("aaa", position=100),
        record("a" * 36 + "b", position=200),  # the regex runs out of time on this one
        record("aa", position=300),
    ]
    if tolerance == "fail":
        with pytest.raises(TransformError, match="did not finish within"):
            sender.send(records)
        assert pipeline.handed == [("orders", 100)] and sender.sent == 1
        return
    sender.send(records)
    middle = "orders.dlq" if tolerance == "deadLetter" else None
    assert pipeline.handed == [("orders", 100), (middle, 200), ("orders", 300)]
    assert sender.sent == 3 and sender.last is not None and sender.last.log_position == 300
    [(kind, cause, reason, position)] = seen
    assert (cause, position) == (Cause.TRANSFORMER, 200)
    assert "did not finish within" in reason
    assert kind is (IncidentKind.DEAD_LETTERED if middle else IncidentKind.SKIPPED)
