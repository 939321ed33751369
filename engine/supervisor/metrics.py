"""Prometheus metrics for the engine, fed by the workers' listener calls.

``EngineMetrics`` is a ``WorkerListener``: each worker thread calls it with batch
counts, so the hot path is a few integer additions on a per-sink record and a
bisect per latency (no prometheus-client locks, no label lookups). The numbers
become metric families only when ``/metrics`` is scraped, through a custom
collector in a dedicated ``CollectorRegistry`` (nothing global is registered, so
several engines can live in one process, e.g. in tests).

Each sink's record is written by one worker thread at a time (a reload stops the
old worker before the new one starts), so plain attribute updates are safe.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from engine.runtime.worker_api import Incident, SinkState
    from engine.supervisor.results import ReloadResult

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
_DEPENDENCIES = ("kafka", "kurrentdb")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _SinkStats:
    __slots__ = (
        "buckets",
        "checkpoint",
        "failed",
        "failures",
        "lag",
        "last_error_at",
        "latency_sum",
        "lost",
        "produced",
        "read",
        "state",
    )

    def __init__(self) -> None:
        self.read = 0
        self.produced = 0
        self.failed = 0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # last one is +Inf
        self.latency_sum = 0.0
        self.checkpoint: int | None = None
        self.lag: int | None = None
        self.state: str | None = None
        self.failures: dict[tuple[str, str], int] = {}  # (cause, kind) → incidents
        self.last_error_at: float | None = None
        self.lost: set[str] = set()  # dependencies that cannot be reached now


class EngineMetrics(Collector):
    def __init__(self) -> None:
        self._sinks: dict[str, _SinkStats] = {}
        self._new_sink = threading.Lock()
        self.reloads = {"applied": 0, "rejected": 0, "rolled_back": 0}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def _stats(self, sink: str) -> _SinkStats:
        stats = self._sinks.get(sink)
        if stats is None:
            with self._new_sink:
                stats = self._sinks.setdefault(sink, _SinkStats())
        return stats

    # ----------------------------------------------------- WorkerListener
    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None:
        self._stats(sink).state = state.name

    def on_read(self, sink: str, count: int) -> None:
        self._stats(sink).read += count

    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None:
        stats = self._stats(sink)
        stats.produced += count
        buckets = stats.buckets
        for latency in latencies_s:
            buckets[bisect.bisect_left(LATENCY_BUCKETS, latency)] += 1
        stats.latency_sum += sum(latencies_s)

    def on_failed(self, sink: str, count: int) -> None:
        self._stats(sink).failed += count

    def on_checkpoint(self, sink: str, position: int) -> None:
        self._stats(sink).checkpoint = position

    def on_incident(self, sink: str, incident: Incident) -> None:
        stats = self._stats(sink)
        cause = incident.cause.value
        if incident.kind.name == "BACK":
            stats.lost.discard(cause)
            return
        if incident.kind.name == "LOST":
            stats.lost.add(cause)
        key = (cause, incident.kind.value)
        stats.failures[key] = stats.failures.get(key, 0) + 1
        stats.last_error_at = incident.at

    # ----------------------------------------------------- engine events
    def record_reload(self, result: ReloadResult) -> None:
        if result.outcome.value != "unchanged" and not result.plan.is_empty:
            self.reloads["applied"] += 1
        self.reloads["rejected"] += len(result.rejected_files)
        self.reloads["rolled_back"] += len(result.rolled_back)

    def set_lag(self, lags: Mapping[str, int | None]) -> None:
        for sink, lag in lags.items():
            self._stats(sink).lag = lag

    def forget(self, keep: set[str]) -> None:
        """Drop series of sinks that no longer exist."""
        with self._new_sink:
            for name in [n for n in self._sinks if n not in keep]:
                del self._sinks[name]

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # ----------------------------------------------------- Collector
    def collect(self) -> Iterator[Metric]:
        sinks = sorted(self._sinks.items())
        read = CounterMetricFamily(
            "sinks_events_read", "Events read from KurrentDB.", labels=["sink"]
        )
        produced = CounterMetricFamily(
            "sinks_messages_produced", "Messages confirmed by the Kafka broker.", labels=["sink"]
        )
        failed = CounterMetricFamily(
            "sinks_messages_failed", "Messages that could not be delivered.", labels=["sink"]
        )
        latency = HistogramMetricFamily(
            "sinks_delivery_latency_seconds",
            "Time from produce() to the broker's confirmation.",
            labels=["sink"],
        )
        checkpoint = GaugeMetricFamily(
            "sinks_checkpoint_position",
            "Last committed checkpoint (commit position).",
            labels=["sink"],
        )
        lag = GaugeMetricFamily(
            "sinks_lag_positions",
            "Head of $all minus the last delivered position.",
            labels=["sink"],
        )
        state = GaugeMetricFamily(
            "sinks_state", "1 for the sink's current state.", labels=["sink", "state"]
        )
        failures = CounterMetricFamily(
            "sinks_failures",
            "Incidents by cause (delivery, transformer, kurrentdb, kafka, checkpoint, fenced, "
            "internal) and kind (failed, backoff, dependency_lost, event_skipped, "
            "event_dead_lettered).",
            labels=["sink", "cause", "kind"],
        )
        last_error = GaugeMetricFamily(
            "sinks_last_error_timestamp_seconds",
            "Wall-clock time of the sink's last incident (Unix seconds).",
            labels=["sink"],
        )
        up = GaugeMetricFamily(
            "sinks_dependency_up",
            "1 while the dependency answers, 0 from a lost dependency until it is back.",
            labels=["sink", "dependency"],
        )
        for name, s in sinks:
            read.add_metric([name], s.read)
            produced.add_metric([name], s.produced)
            failed.add_metric([name], s.failed)
            cumulative, total = [], 0
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), s.buckets, strict=True):
                total += count
                cumulative.append((_le(bound), float(total)))
            latency.add_metric([name], cumulative, s.latency_sum)
            if s.checkpoint is not None:
                checkpoint.add_metric([name], s.checkpoint)
            if s.lag is not None:
                lag.add_metric([name], s.lag)
            if s.state is not None:
                state.add_metric([name, s.state], 1)
            for (cause, kind), count in sorted(s.failures.items()):
                failures.add_metric([name, cause, kind], count)
            if s.last_error_at is not None:
                last_error.add_metric([name], s.last_error_at)
            for dependency in _DEPENDENCIES:
                up.add_metric([name, dependency], 0 if dependency in s.lost else 1)
        reloads = CounterMetricFamily(
            "sinks_reloads",
            "Reload outcomes: applied, rejected files, rolled-back sinks.",
            labels=["result"],
        )
        for result, count in sorted(self.reloads.items()):
            reloads.add_metric([result], count)
        yield from (read, produced, failed, latency, checkpoint, lag, state, failures)
        yield from (last_error, up, reloads)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
