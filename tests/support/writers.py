"""Numbered events appended to KurrentDB, as the sink tests read them back.

Event ``n`` of sink ``s`` goes to stream ``<s>-k<n % keys>`` with the body
``{"n": n, "key": "k<n % keys>"}``, so a sink keyed by stream suffix keeps each key in
one partition and per-key order can be checked in the topic. Every append is retried
until acknowledged (a server restarting under a fault test loses none, the same event
ids are sent again), and ``Writer`` paces them in a thread of its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fixtures.kurrentdb_library import NewEvent, StreamState

APPEND_PATIENCE_S = 120.0  # how long a restarting server may refuse appends
RETRY_PAUSE_S = 0.2


def event(
    n: int,
    *,
    key: str,
    data: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    event_type: str = "Counted",
    size: int = 0,
) -> NewEvent:
    body = dict(data or {"n": n, "key": key})
    if size:
        body["pad"] = "x" * size
    return NewEvent(
        type=event_type,
        data=json.dumps(body).encode(),
        metadata=json.dumps(dict(metadata or {})).encode(),
    )


def append_numbered(
    client: Any,
    sink: str,
    count: int,
    *,
    keys: int = 4,
    start: int = 0,
    rate: float | None = None,
    batch: int = 50,
) -> list[int]:
    """Append ``count`` events over ``keys`` streams ``<sink>-k<i>``; returns commit positions.

    With ``rate`` (events/s) the appends are paced, so faults land mid-stream.
    """
    positions: list[int] = []
    began = time.monotonic()
    n = start
    while n < start + count:
        chunk = range(n, min(n + batch, start + count))
        by_stream: dict[str, list[NewEvent]] = {}
        for i in chunk:
            key = f"k{i % keys}"
            by_stream.setdefault(f"{sink}-{key}", []).append(event(i, key=key))
        for stream, events in by_stream.items():
            positions.append(_append_retrying(client, stream, events))
        n = chunk.stop
        if rate:
            _pace(began, n - start, rate)
    return positions


def _pace(began: float, done: int, rate: float) -> None:
    # Pacing, not waiting for a condition: the writer is ahead of its schedule.
    ahead = done / rate - (time.monotonic() - began)
    if ahead > 0:
        time.sleep(ahead)


def _append_retrying(client: Any, stream: str, events: list[NewEvent]) -> int:
    # The server may be restarting under a fault test: keep trying the same events
    # (same ids) until the append is acknowledged.
    deadline = time.monotonic() + APPEND_PATIENCE_S
    while True:
        try:
            return int(
                client.append_to_stream(stream, current_version=StreamState.ANY, events=events)
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(RETRY_PAUSE_S)


class Writer:
    """Appends ``count`` numbered events to each of ``sinks``' streams at ``rate`` per sink.

    The sinks take turns, ``batch`` events each, so all of them are mid-stream at once.
    ``error`` is what stopped the thread (the test reports it: ``finish`` asserts it is
    None); ``appended`` counts the events per sink so far and ``last_position`` is the
    highest commit position acknowledged.
    """

    def __init__(
        self,
        client: Any,
        sinks: str | Sequence[str],
        count: int,
        rate: float,
        keys: int = 4,
        batch: int = 20,
    ) -> None:
        self.client = client
        self.sinks = [sinks] if isinstance(sinks, str) else list(sinks)
        self.count, self.rate, self.keys, self.batch = count, rate, keys, batch
        self.error: BaseException | None = None
        self.appended = 0
        self.last_position = -1
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-writer", daemon=True)

    def start(self) -> Writer:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            began = time.monotonic()
            for start in range(0, self.count, self.batch):
                size = min(self.batch, self.count - start)
                for sink in self.sinks:
                    positions = append_numbered(
                        self.client, sink, size, keys=self.keys, start=start, batch=size
                    )
                    self.last_position = max([self.last_position, *positions])
                self.appended = start + size
                _pace(began, self.appended, self.rate)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.done.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def finish(self, timeout: float) -> None:
        """Wait until every event is appended; fail naming what went wrong."""
        assert self.done.wait(timeout), f"writer still appending after {timeout}s"
        assert self.error is None, self.error
