"""EngineMetrics: listener calls become Prometheus series in its own registry."""

from __future__ import annotations

import enum

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from engine.specification.model import SinkDefinition
from engine.supervisor.metrics import EngineMetrics
from engine.supervisor.plan import Plan
from engine.supervisor.results import ReloadOutcome, ReloadResult, Rollback


class State(enum.Enum):  # stands for engine.runtime.worker.SinkState: only .name is read
    RUNNING = 1


def samples(metrics: EngineMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_counts_histogram_checkpoint_and_state() -> None:
    m = EngineMetrics()
    m.on_state("orders", State.RUNNING, None)  # type: ignore[arg-type]
    m.on_read("orders", 5)
    m.on_read("orders", 2)
    m.on_delivered("orders", 3, [0.0005, 0.02, 7.0])
    m.on_failed("orders", 1)
    m.on_checkpoint("orders", 4242)
    m.set_lag({"orders": 17})
    s = samples(m)
    sink = (("sink", "orders"),)
    assert s[("sinks_events_read_total", sink)] == 7
    assert s[("sinks_messages_produced_total", sink)] == 3
    assert s[("sinks_messages_failed_total", sink)] == 1
    assert s[("sinks_checkpoint_position", sink)] == 4242
    assert s[("sinks_lag_positions", sink)] == 17
    assert s[("sinks_state", (("sink", "orders"), ("state", "RUNNING")))] == 1
    assert s[("sinks_delivery_latency_seconds_count", sink)] == 3
    assert abs(s[("sinks_delivery_latency_seconds_sum", sink)] - 7.0205) < 1e-9
    le = lambda b: (("le", b), ("sink", "orders"))  # noqa: E731
    assert s[("sinks_delivery_latency_seconds_bucket", le("0.001"))] == 1
    assert s[("sinks_delivery_latency_seconds_bucket", le("0.025"))] == 2
    assert s[("sinks_delivery_latency_seconds_bucket", le("5.0"))] == 2
    assert s[("sinks_delivery_latency_seconds_bucket", le("+Inf"))] == 3


def test_reload_counters_and_dedicated_registry() -> None:
    m = EngineMetrics()
    a = SinkDefinition.from_canonical("a", {"topic": "x"})
    applied = ReloadResult(at=0, plan=Plan(added=(a,)), outcome=ReloadOutcome.APPLIED)
    partial = ReloadResult(
        at=0,
        plan=Plan(),
        outcome=ReloadOutcome.PARTIAL,
        rejected_files=("sinks.d/x.yaml", "sinks.d/y.yaml"),
        rolled_back=(Rollback("a", "boom", "sinks.d/a.yaml"),),
    )
    nothing = ReloadResult(at=0, plan=Plan(unchanged=(a,)), outcome=ReloadOutcome.UNCHANGED)
    for r in (applied, partial, nothing):
        m.record_reload(r)
    s = samples(m)
    assert s[("sinks_reloads_total", (("result", "applied"),))] == 1
    assert s[("sinks_reloads_total", (("result", "rejected"),))] == 2
    assert s[("sinks_reloads_total", (("result", "rolled_back"),))] == 1
    # nothing leaks into the process-wide default registry
    assert REGISTRY.get_sample_value("sinks_reloads_total", {"result": "applied"}) is None


def test_forget_drops_series_of_removed_sinks() -> None:
    m = EngineMetrics()
    m.on_read("gone", 1)
    m.on_read("kept", 1)
    m.forget({"kept"})
    names = {labels for (_, labels) in samples(m)}
    assert (("sink", "kept"),) in names
    assert (("sink", "gone"),) not in names


def test_failures_by_cause_last_error_time_and_dependencies() -> None:
    from engine.runtime.worker_api import Cause, Incident, IncidentKind

    m = EngineMetrics()
    m.on_state("orders", State.RUNNING, None)  # type: ignore[arg-type]
    sink = (("sink", "orders"),)
    assert ("sinks_last_error_timestamp_seconds", sink) not in samples(m)
    m.on_incident("orders", Incident(IncidentKind.BACKOFF, Cause.KURRENTDB, "down", 5, 100.0))
    m.on_incident("orders", Incident(IncidentKind.LOST, Cause.KURRENTDB, "down", 5, 100.5))
    s = samples(m)
    assert s[("sinks_dependency_up", (("dependency", "kurrentdb"), ("sink", "orders")))] == 0
    assert s[("sinks_dependency_up", (("dependency", "kafka"), ("sink", "orders")))] == 1
    m.on_incident("orders", Incident(IncidentKind.BACK, Cause.KURRENTDB, "back", 5, 130.0))
    m.on_incident("orders", Incident(IncidentKind.FAILED, Cause.DELIVERY, "too large", 9, 140.0))
    s = samples(m)

    def failures(cause: str, kind: str) -> float:
        labels = (("cause", cause), ("kind", kind), ("sink", "orders"))
        return s[("sinks_failures_total", labels)]

    assert failures("kurrentdb", "backoff") == 1
    assert failures("kurrentdb", "dependency_lost") == 1
    assert failures("delivery", "failed") == 1
    assert not any(
        name == "sinks_failures_total" and ("kind", "dependency_back") in labels
        for name, labels in s
    )
    assert s[("sinks_last_error_timestamp_seconds", sink)] == 140.0  # not moved by BACK
    assert s[("sinks_dependency_up", (("dependency", "kurrentdb"), ("sink", "orders")))] == 1
    text = m.render().decode()
    assert 'sinks_failures_total{cause="delivery",kind="failed",sink="orders"} 1.0' in text
