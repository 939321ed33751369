"""A running engine: what a worker reports as an incident reaches the event log and /metrics."""

from __future__ import annotations

import io
from pathlib import Path

from engine.runtime.worker_api import Cause, Incident, IncidentKind
from engine.supervisor.app import EngineApp, EngineOptions
from engine.supervisor.logs import EventLog
from tests.supervisor.fakes import Journal


def test_incidents_are_logged_and_counted(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(
        "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: orders\n"
    )
    journal = Journal()
    listeners = []

    def factory(definition, connections, listener):  # type: ignore[no-untyped-def]
        listeners.append(listener)
        return journal.factory(definition, connections, listener)

    out = io.StringIO()
    app = EngineApp(
        EngineOptions(sinks_dir=tmp_path, status_addr=None, watch=False),
        log=EventLog(out, "text"),
        worker_factory=factory,
    )
    poll = app.load()
    assert poll.result.ok
    app.start(poll)
    try:
        [listener] = listeners
        listener.on_incident(
            "orders", Incident(IncidentKind.LOST, Cause.KAFKA, "kafka: down", 77, 1.0)
        )
    finally:
        app.shutdown()
    lines = [line.split(None, 1)[1] for line in out.getvalue().splitlines()]
    assert (
        'WARN  sink.dependency_lost name=orders cause=kafka position=77 reason="kafka: down"'
        in (lines)
    )
    text = app.metrics.render().decode()
    assert 'sinks_failures_total{cause="kafka",kind="dependency_lost",sink="orders"} 1.0' in text
    assert 'sinks_dependency_up{dependency="kafka",sink="orders"} 0.0' in text
