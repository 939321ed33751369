"""A minimal in-test worker standing in for SinkWorker (no Kafka, no KurrentDB).

Its behaviour is chosen by the sink's topic so one test file drives every case:
``boom*`` raises PermanentError in start(), ``late-fail*`` reaches FAILED right
after starting, ``stuck*`` never stops, anything else reaches RUNNING.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from engine.runtime.worker_api import Connections, SinkState, WorkerListener, WorkerStatus
from engine.specification.errors import PermanentError
from engine.specification.model import SinkDefinition


@dataclass
class Journal:
    """Everything the fake workers did, in order."""

    events: list[tuple[str, str, str]] = field(default_factory=list)  # (action, name, topic)
    workers: list[FakeWorker] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action: str, definition: SinkDefinition) -> None:
        with self.lock:
            self.events.append((action, definition.name, definition.settings.topic))

    def actions(self, name: str | None = None) -> list[tuple[str, str]]:
        return [(a, t) for a, n, t in self.events if name is None or n == name]

    def factory(
        self, definition: SinkDefinition, connections: Connections, listener: WorkerListener | None
    ) -> FakeWorker:
        worker = FakeWorker(definition, self)
        self.workers.append(worker)
        return worker


class FakeWorker:
    def __init__(self, definition: SinkDefinition, journal: Journal) -> None:
        self.definition = definition
        self.journal = journal
        self.state = SinkState.STOPPED
        self.error: str | None = None
        self.changed = threading.Condition()
        self.stop_calls = 0

    @property
    def topic(self) -> str:
        return self.definition.settings.topic

    def _set(self, state: SinkState) -> None:
        with self.changed:
            self.state = state
            self.changed.notify_all()

    def start(self) -> None:
        self.journal.add("start", self.definition)
        if self.topic.startswith("boom"):
            raise PermanentError(f"kafka: cannot build producer for {self.topic}")
        self._set(SinkState.ACTIVATING)
        if self.topic.startswith("late-fail"):
            self.error = "transformer threw at load: ReferenceError: x is not defined"
            threading.Timer(0.05, self._set, (SinkState.FAILED,)).start()
        else:
            threading.Timer(0.01, self._set, (SinkState.RUNNING,)).start()

    def stop(self, timeout: float = 30.0) -> bool:
        self.stop_calls += 1
        self.journal.add("stop", self.definition)
        if self.topic.startswith("stuck"):
            threading.Event().wait(timeout)
            return False
        self._set(SinkState.STOPPED)
        return True

    def status(self) -> WorkerStatus:
        return WorkerStatus(
            name=self.definition.name,
            state=self.state,
            reason=None,
            read=7,
            delivered=5,
            failed=0,
            last_delivered_position=100,
            checkpoint_position=90,
            last_error=self.error,
            definition_digest=self.definition.digest,
        )

    def wait_for(self, *states: SinkState, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.state in states, timeout)


def sink_yaml(name: str, topic: str, *, enabled: bool = True) -> str:
    flag = "true" if enabled else "false"
    return (
        f"name: {name}\nenabled: {flag}\nsettings:\n"
        f"  instanceTypeName: kafka-sink\n  topic: {topic}\n"
    )


class Folder:
    """Real sink files on disk, loaded by the real config source."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def good(
        self, file: str, *sinks: tuple[str, str], note: str = "", enabled: bool = True
    ) -> None:
        body = "---\n".join(sink_yaml(n, t, enabled=enabled) for n, t in sinks)
        (self.root / file).write_text(body + (f"# {note}\n" if note else ""))

    def bad(self, file: str, codec: str, name: str = "orders") -> None:
        """A sink file whose compression:type is ``codec`` (an invalid value)."""
        body = sink_yaml(name, "t") + f"  compression:\n    type: {codec}\n"
        (self.root / file).write_text(body)

    def delete(self, file: str) -> None:
        (self.root / file).unlink()
