"""Helpers of the sink integration tests: definitions, runs, checks.

Appending numbered events is ``tests.support.writers``; waiting, ``tests.support.waits``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections, Incident, SinkState, WorkerStatus
from engine.specification.model import SinkDefinition
from tests.support.waits import came_true

KEYED = {"partitionKeyExtraction:enabled": True, "partitionKeyExtraction:source": "StreamSuffix"}


def definition(name: str, topic: str, bootstrap: str, **settings: Any) -> SinkDefinition:
    """A sink reading the streams whose names start with ``<name>-`` from the beginning.

    Add ``**KEYED`` to key messages by stream suffix (``<name>-k3`` → ``k3``), so each
    key stays in one partition and per-key order can be checked in the topic.
    """
    canonical: dict[str, Any] = {
        "instanceTypeName": "kafka-sink",
        "topic": topic,
        "bootstrapServers": bootstrap,
        "subscription:initialPosition": "Earliest",
        "subscription:filter:scope": "Stream",
        "subscription:filter:filterType": "Prefix",
        "subscription:filter:expression": f"{name}-",
    }
    canonical.update(settings)
    return SinkDefinition.from_canonical(name, canonical)


def unique_name(prefix: str = "sink") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Recorder:
    """A WorkerListener keeping every call."""

    def __init__(self) -> None:
        self.states: list[tuple[SinkState, str | None]] = []
        self.read = 0
        self.delivered = 0
        self.latencies: list[float] = []
        self.failed = 0
        self.checkpoints: list[int] = []
        self.incidents: list[Incident] = []

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None:
        self.states.append((state, reason))

    def on_read(self, sink: str, count: int) -> None:
        self.read += count

    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None:
        self.delivered += count
        self.latencies.extend(latencies_s)

    def on_failed(self, sink: str, count: int) -> None:
        self.failed += count

    def on_checkpoint(self, sink: str, position: int) -> None:
        self.checkpoints.append(position)

    def on_incident(self, sink: str, incident: Incident) -> None:
        self.incidents.append(incident)


def run_until_delivered(
    definition: SinkDefinition,
    url: str,
    count: int,
    timeout: float = 60,
    listener: Recorder | None = None,
) -> WorkerStatus:
    """Start a worker, wait until ``count`` messages are confirmed, stop it gracefully."""
    worker = SinkWorker(definition, Connections(kurrentdb_url=url), listener)
    worker.start()
    try:
        ok = came_true(
            lambda: worker.status().delivered >= count or worker.status().state is SinkState.FAILED,
            timeout,
        )
        assert ok, f"only {worker.status().delivered} of {count} delivered: {worker.status()}"
    finally:
        assert worker.stop(30)
    return worker.status()


@dataclass(frozen=True)
class Audit:
    appended: int
    delivered: int  # messages found in the topic
    distinct: int
    duplicated: int
    missing: tuple[int, ...]
    order_violations: tuple[str, ...]

    def line(self, label: str) -> str:
        return (
            f"[{label}] appended={self.appended} delivered={self.delivered} "
            f"distinct={self.distinct} duplicated={self.duplicated} missing={len(self.missing)}"
        )


def audit(values: Iterable[bytes | None], appended: int) -> Audit:
    """Check at-least-once and per-key order of numbered events read back from Kafka.

    Per key, the sequence may rewind (a re-send after a failure or a restart) but
    never jump ahead: an event appears only after every earlier event of its key.
    """
    numbers: list[int] = []
    per_key: dict[str, list[int]] = {}
    for value in values:
        body = json.loads(value or b"{}")
        numbers.append(body["n"])
        per_key.setdefault(body["key"], []).append(body["n"])
    violations: list[str] = []
    for key, sequence in per_key.items():
        expected = sorted(set(sequence))
        rank = {n: i for i, n in enumerate(expected)}
        high = -1
        for n in sequence:
            if rank[n] > high + 1:
                violations.append(f"{key}: {n} arrived before {expected[high + 1]}")
                break
            high = max(high, rank[n])
    distinct = set(numbers)
    return Audit(
        appended=appended,
        delivered=len(numbers),
        distinct=len(distinct),
        duplicated=len(numbers) - len(distinct),
        missing=tuple(n for n in range(appended) if n not in distinct),
        order_violations=tuple(violations),
    )
