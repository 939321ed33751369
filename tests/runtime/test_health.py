"""SinkHealth: incidents once per outage, the last error with its time, cleared when healthy."""

from __future__ import annotations

from collections.abc import Sequence

from engine.adapters.kafka import Fenced
from engine.mapping.pipeline import TransformError
from engine.runtime.delivery import DeliveryFailed
from engine.runtime.health import SinkHealth, cause_of
from engine.runtime.tracker import Failure
from engine.runtime.worker_api import Cause, Incident, IncidentKind, SinkState
from engine.specification.errors import PermanentError, TemporaryError


class Incidents:
    def __init__(self) -> None:
        self.seen: list[tuple[str, IncidentKind, Cause, str, int | None]] = []

    def on_incident(self, sink: str, incident: Incident) -> None:
        self.seen.append((sink, incident.kind, incident.cause, incident.reason, incident.position))

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None: ...
    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...


def test_an_outage_is_one_backoff_one_loss_and_one_recovery() -> None:
    seen = Incidents()
    health = SinkHealth("orders", seen)
    down = "kurrentdb: subscribing: ServiceUnavailable: connection refused"
    health.back_off(Cause.KURRENTDB, down, 100, entering=True)
    health.back_off(Cause.KURRENTDB, down, 100, entering=False)  # the next attempts
    assert health.last_error == down and health.last_error_at is not None
    assert health.lost == {Cause.KURRENTDB: down}
    since = health.last_error_at
    health.regain(Cause.KURRENTDB, 100)
    health.regain(Cause.KURRENTDB, 100)  # already back: nothing more
    assert seen.seen == [
        ("orders", IncidentKind.BACKOFF, Cause.KURRENTDB, down, 100),
        ("orders", IncidentKind.LOST, Cause.KURRENTDB, down, 100),
        ("orders", IncidentKind.BACK, Cause.KURRENTDB, "kurrentdb reachable again", 100),
    ]
    assert health.last_error is None  # healthy: no stale error
    assert health.last_error_at == since  # its time is kept
    assert health.lost == {}


def test_failed_names_the_errors_own_position() -> None:
    seen = Incidents()
    health = SinkHealth("orders", seen)
    refused = DeliveryFailed(
        Failure(4242, PermanentError("kafka: MSG_SIZE_TOO_LARGE: Broker: Message size too large")),
        "not a transient error",
    )
    health.fail(refused, 4000)
    health.fail(PermanentError("kurrentdb: access denied"), 17)
    assert seen.seen == [
        ("orders", IncidentKind.FAILED, Cause.DELIVERY, str(refused), 4242),
        ("orders", IncidentKind.FAILED, Cause.KURRENTDB, "kurrentdb: access denied", 17),
    ]
    assert health.last_error == "kurrentdb: access denied"


def test_causes() -> None:
    assert cause_of(Fenced("kafka: this producer was fenced")) is Cause.FENCED
    assert cause_of(TransformError("boom", position=1)) is Cause.TRANSFORMER
    assert cause_of(TemporaryError("kafka: _TRANSPORT: down")) is Cause.KAFKA
    assert cause_of(TemporaryError("kurrentdb: the subscription ended")) is Cause.KURRENTDB
    assert cause_of(PermanentError("checkpoint not stored: denied")) is Cause.CHECKPOINT
    assert cause_of(ValueError("a defect")) is Cause.INTERNAL


class Pipeline:  # the two attributes watch_kafka reads
    def __init__(self) -> None:
        self.last_client_error: TemporaryError | None = None
        self.delivered = 0


def test_a_broker_error_loses_kafka_until_a_delivery_is_confirmed() -> None:
    seen = Incidents()
    health = SinkHealth("orders", seen)
    pipeline = Pipeline()
    down = "kafka: _ALL_BROKERS_DOWN: 1/1 brokers are down"
    pipeline.last_client_error = TemporaryError(down)
    health.watch_kafka(pipeline, 50)  # type: ignore[arg-type]
    pipeline.last_client_error = TemporaryError(down)
    health.watch_kafka(pipeline, 50)  # type: ignore[arg-type]
    health.watch_kafka(pipeline, 50)  # type: ignore[arg-type]  # nothing confirmed yet
    assert [s[1] for s in seen.seen] == [IncidentKind.LOST]
    assert health.last_error == down and list(health.lost) == [Cause.KAFKA]
    pipeline.delivered = 1
    health.watch_kafka(pipeline, 60)  # type: ignore[arg-type]
    assert seen.seen[-1] == ("orders", IncidentKind.BACK, Cause.KAFKA, "kafka reachable again", 60)
    assert health.last_error is None
