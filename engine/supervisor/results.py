"""Values the supervisor hands out: one apply, one reload's outcome, one sink's view, a shutdown.

They are frozen snapshots: the status server and the CLI read them from other
threads without locks, and nothing in them refers back to a live worker.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.specification.model import Diagnostic, SinkDefinition
from engine.supervisor.plan import Plan

if TYPE_CHECKING:
    from engine.runtime.worker_api import WorkerStatus


class ReloadOutcome(enum.Enum):
    APPLIED = "applied"  # every file applied, every new definition started
    PARTIAL = "partial"  # some files rejected or some sinks rolled back, the rest applied
    UNCHANGED = "unchanged"  # nothing to do (also: a rejected file still unchanged)


@dataclass(frozen=True)
class Rollback:
    """A changed sink whose new definition could not start; the old one runs again."""

    name: str
    error: str
    source_file: str


@dataclass(frozen=True)
class StartFailure:
    """A definition that could not start, and what runs instead (None: nothing)."""

    failed: SinkDefinition
    restored: SinkDefinition | None
    error: str


@dataclass(frozen=True)
class Applied:
    """What one ``Supervisor.apply`` did."""

    plan: Plan
    rolled_back: tuple[Rollback, ...] = ()
    failed_to_start: tuple[str, ...] = ()  # added sinks that failed (nothing to roll back to)
    stuck: tuple[str, ...] = ()  # old workers that did not stop within the deadline
    duration_s: float = 0.0
    pending_files: tuple[str, ...] = ()  # still loading: their last good versions run


@dataclass(frozen=True)
class ReloadResult:
    at: float  # wall-clock seconds
    plan: Plan
    outcome: ReloadOutcome
    rejected_files: tuple[str, ...] = ()
    rolled_back: tuple[Rollback, ...] = ()
    failed_to_start: tuple[str, ...] = ()  # added sinks that failed (nothing to roll back to)
    issues: tuple[Diagnostic, ...] = ()
    stuck: tuple[str, ...] = ()  # old workers that did not stop within the deadline
    duration_s: float = 0.0
    pending_files: tuple[str, ...] = ()  # still loading: their last good versions run

    def issue_lines(self) -> list[str]:
        """Every issue as a compiler-style line (notes on their own lines)."""
        return [d.format() for d in self.issues]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "outcome": self.outcome.value,
            "added": [d.name for d in self.plan.added],
            "changed": [c.name for c in self.plan.changed],
            "removed": [d.name for d in self.plan.removed],
            "unchanged": len(self.plan.unchanged),
            "rejected_files": list(self.rejected_files),
            "rolled_back": [{"name": r.name, "error": r.error} for r in self.rolled_back],
            "failed_to_start": list(self.failed_to_start),
            "stuck": list(self.stuck),
            "pending_files": list(self.pending_files),
            "issues": self.issue_lines(),
            "duration_s": round(self.duration_s, 4),
        }


@dataclass(frozen=True)
class SinkView:
    """What the status endpoint shows for one sink."""

    name: str
    state: str  # a SinkState's or an IdleState's value (DISABLED, FAILED...)
    reason: str | None
    digest: str
    source_file: str
    enabled: bool
    read: int = 0
    delivered: int = 0
    failed: int = 0
    last_delivered_position: int | None = None
    checkpoint_position: int | None = None
    last_error: str | None = None
    issues: tuple[str, ...] = ()  # compiler lines of its file's current rejection, if any
    restarts: int = 0  # how many times a reload replaced this sink's worker
    caught_up: bool = False  # live, nothing waiting or in flight (see SinkWorker.status)
    last_error_at: float | None = None  # wall-clock seconds of last_error
    lost: tuple[str, ...] = ()  # dependencies the sink cannot reach now (kafka, kurrentdb)
    extra: dict[str, Any] = field(default_factory=dict)
    # Cluster mode: the member that runs the sink, and whether that is this process
    # (readiness counts only local sinks). Standalone: no owner, always local.
    owner: dict[str, Any] | None = None
    local: bool = True
    guarantee: str | None = None  # delivery:guarantee (see guarantee_of)

    @classmethod
    def of_status(
        cls,
        status: WorkerStatus,
        definition: SinkDefinition,
        issues: tuple[str, ...],
        restarts: int,
    ) -> SinkView:
        """The view of a sink with a live worker: its counters as the worker reports them."""
        counters = {f.name: getattr(status, f.name) for f in fields(status) if f.name in _COUNTERS}
        return cls(
            state=status.state.value,
            digest=definition.digest,
            source_file=definition.source_file,
            enabled=True,
            issues=issues,
            restarts=restarts,
            guarantee=guarantee_of(definition),
            **counters,
        )

    def to_json(self, head_position: int | None = None) -> dict[str, Any]:
        lag: int | None = None
        if head_position is None:
            pass  # the head cannot be read: the lag is unknown, not 0
        elif self.caught_up:
            # Live and drained: the head may be ahead with events the filter skips
            # (or with this sink's own checkpoints), but nothing is left to deliver.
            lag = 0
        else:
            done = self.last_delivered_position
            if done is None:
                done = self.checkpoint_position
            lag = max(0, head_position - done) if done is not None else None
        return {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "enabled": self.enabled,
            "digest": self.digest,
            "source_file": self.source_file,
            "read": self.read,
            "delivered": self.delivered,
            "failed": self.failed,
            "last_delivered_position": self.last_delivered_position,
            "checkpoint_position": self.checkpoint_position,
            "head_position": head_position,
            "lag": lag,
            "caught_up": self.caught_up,
            "last_error": self.last_error,
            "last_error_since": _iso(self.last_error_at),
            "dependencies_lost": list(self.lost),
            "issues": list(self.issues),
            "restarts": self.restarts,
            "owner": self.owner,
            "guarantee": self.guarantee,
        }


def guarantee_of(definition: SinkDefinition) -> str:
    """The sink's ``delivery:guarantee``, its table default when not written."""
    return definition.settings.guarantee.value


def _iso(at: float | None) -> str | None:
    if at is None:
        return None
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ShutdownResult:
    stopped: tuple[str, ...]
    stuck: tuple[str, ...]
    duration_s: float


# WorkerStatus fields a view copies as they are (the rest it derives or adds).
_COUNTERS = frozenset(f.name for f in fields(SinkView)) - {
    "state",
    "digest",
    "guarantee",
    "source_file",
    "enabled",
    "issues",
    "restarts",
    "extra",
}
