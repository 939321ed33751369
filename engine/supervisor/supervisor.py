"""The supervisor owns every sink worker and applies a desired set one at a time.

``apply(desired)`` takes name → ``SinkDefinition`` (disabled definitions included,
to be shown) and makes the running workers match it. It knows nothing of files:
the config source (engine.config.source) decides what is desired, and anything
else that narrows the set (e.g. ownership in a cluster) may call ``apply`` too.

Guarantees:

* Stop before start: removed sinks and the old side of changed sinks are stopped
  (flush, final checkpoint) before any new worker starts, so a changed sink resumes
  from the checkpoint its predecessor wrote and nothing is skipped.
* A changed sink whose new definition cannot start (``PermanentError`` from
  ``start()`` or FAILED within ``start_grace`` seconds) is rolled back: the previous
  definition starts again. Every start failure is reported to ``on_start_failure``.
* A sink that could not start is shown FAILED and is not tried again while
  ``desired`` hands the very same definition object (the source has not re-read
  its file); a new definition object is tried.
* Never two workers of one sink: a predecessor that did not stop in time keeps its
  successor out (FAILED) until the next apply.
* ``shutdown(deadline)`` stops every worker in parallel and names those that did
  not stop in time.

``apply``/``shutdown`` are serialised by one lock; ``views()`` can be read from any
thread at any time. The plan itself is ``engine.supervisor.plan.plan``, a pure function.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from engine.runtime.worker_api import Connections, SinkState, WorkerListener, WorkerStatus
from engine.specification.constants import SHUTDOWN_TIMEOUT_S
from engine.specification.errors import PermanentError
from engine.specification.model import SinkDefinition
from engine.supervisor.logs import EventLog
from engine.supervisor.plan import Plan, plan
from engine.supervisor.results import (
    Applied,
    Rollback,
    ShutdownResult,
    SinkView,
    StartFailure,
    guarantee_of,
)


class Worker(Protocol):
    """The part of ``engine.runtime.worker.SinkWorker`` the supervisor uses."""

    def start(self) -> None: ...
    def stop(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> bool: ...
    def status(self) -> WorkerStatus: ...
    def wait_for(self, *states: SinkState, timeout: float) -> bool: ...


WorkerFactory = Callable[[SinkDefinition, Connections, "WorkerListener | None"], Worker]


def _default_factory(
    definition: SinkDefinition, connections: Connections, listener: WorkerListener | None
) -> Worker:
    from engine.runtime.worker import SinkWorker

    worker: Worker = SinkWorker(definition, connections, listener)
    return worker


class IdleState(enum.Enum):
    """A sink without a running worker; the value is the state shown."""

    DISABLED = "DISABLED"  # switched off in its file
    FAILED = "FAILED"  # could not start, or its predecessor did not stop
    RELOADING = "DEACTIVATING"  # between the stop and the start of a reload


DISABLED_REASON = "disabled in its file"
STUCK_REASON = "previous worker did not stop in time; not restarted"


@dataclass(frozen=True)
class SinkRecord:
    """Everything the supervisor knows about one sink."""

    definition: SinkDefinition  # what runs (newest metadata), or what is shown
    worker: Worker | None = None
    idle: IdleState | None = None  # None while ``worker`` runs it
    reason: str | None = None
    restarts: int = 0  # how many times a reload replaced its worker
    held: bool = False  # FAILED at start: not retried while desired hands this definition


class Supervisor:
    def __init__(
        self,
        connections: Connections,
        *,
        listener: WorkerListener | None = None,
        worker_factory: WorkerFactory | None = None,
        log: EventLog | None = None,
        start_grace: float = 2.0,
        stop_timeout: float = SHUTDOWN_TIMEOUT_S,
        on_start_failure: Callable[[StartFailure], None] | None = None,
        issues_of: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        self._connections = connections
        self._listener = listener
        self._factory = worker_factory or _default_factory
        self._log = log or EventLog.quiet()
        self._start_grace = start_grace
        self._stop_timeout = stop_timeout
        self._on_start_failure = on_start_failure
        self._issues_of = issues_of or (lambda _path: ())
        self._apply_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._records: dict[str, SinkRecord] = {}

    # ----------------------------------------------------------------- applying
    def apply(self, desired: Mapping[str, SinkDefinition]) -> Applied:
        """Make the workers match ``desired`` (see the module's guarantees)."""
        with self._apply_lock:
            started = time.monotonic()
            with self._state_lock:
                current = {n: r.definition for n, r in self._records.items() if r.worker}
                held = {
                    n for n, r in self._records.items() if r.held and desired.get(n) is r.definition
                }
            wanted = {n: d for n, d in desired.items() if d.enabled and n not in held}
            the_plan = plan(current, wanted)
            if not the_plan.is_empty:
                self._log.reload_plan(the_plan)
            stuck, rolled_back, failed = self._execute(the_plan, desired)
            return Applied(
                the_plan,
                tuple(rolled_back),
                tuple(failed),
                tuple(stuck),
                time.monotonic() - started,
            )

    def _execute(
        self, the_plan: Plan, desired: Mapping[str, SinkDefinition]
    ) -> tuple[list[str], list[Rollback], list[str]]:
        to_stop = [d.name for d in the_plan.removed] + [c.name for c in the_plan.changed]
        with self._state_lock:
            self._update_idle(the_plan, desired)
            workers: dict[str, Worker] = {}
            for name in to_stop:
                record = self._records[name]
                if record.worker is not None:
                    workers[name] = record.worker
                self._records[name] = replace(
                    record, worker=None, idle=IdleState.RELOADING, reason="reloading"
                )
        stuck = self._stop_many(workers, self._stop_timeout)
        for name in to_stop:
            self._log.sink_stopped(name, stuck=name in stuck)
        with self._state_lock:
            for d in the_plan.removed:
                record = self._records.pop(d.name)
                now = desired.get(d.name)
                if now is not None and not now.enabled:
                    self._records[d.name] = SinkRecord(
                        now,
                        idle=IdleState.DISABLED,
                        reason=DISABLED_REASON,
                        restarts=record.restarts,
                    )
            for c in the_plan.changed:
                if c.name in stuck:
                    self._records[c.name] = replace(
                        self._records[c.name],
                        definition=c.new,
                        idle=IdleState.FAILED,
                        reason=STUCK_REASON,
                    )
        startable = [c.new for c in the_plan.changed if c.name not in stuck]
        problems = self._start_many(list(the_plan.added) + startable)
        rolled_back: list[Rollback] = []
        failed: list[str] = []
        changes = {c.name: c for c in the_plan.changed}
        for name, error in sorted(problems.items()):
            change = changes.get(name)
            if change is None:
                failed.append(name)
                added = next(d for d in the_plan.added if d.name == name)
                self._report(StartFailure(added, None, error))
                continue
            self._log.rollback(name, error)
            rolled_back.append(Rollback(name, error, change.new.source_file))
            self._report(StartFailure(change.new, change.old, error))
            if self._start_many([change.old]):
                failed.append(name)
        with self._state_lock:
            for name in changes:
                if name not in problems and name not in stuck:
                    record = self._records[name]
                    self._records[name] = replace(record, restarts=record.restarts + 1)
        return stuck, rolled_back, failed

    def _update_idle(self, the_plan: Plan, desired: Mapping[str, SinkDefinition]) -> None:
        """Newer metadata for unchanged sinks; idle records follow ``desired`` (lock held)."""
        for definition in the_plan.unchanged:
            self._records[definition.name] = replace(
                self._records[definition.name], definition=definition
            )
        for name, record in list(self._records.items()):
            if record.worker is not None:
                continue
            now = desired.get(name)
            if now is None:
                del self._records[name]
            elif not now.enabled:
                self._records[name] = SinkRecord(
                    now, idle=IdleState.DISABLED, reason=DISABLED_REASON, restarts=record.restarts
                )
        for name, definition in desired.items():
            if not definition.enabled and name not in self._records:
                self._records[name] = SinkRecord(
                    definition, idle=IdleState.DISABLED, reason=DISABLED_REASON
                )

    def _report(self, failure: StartFailure) -> None:
        if self._on_start_failure is not None:
            self._on_start_failure(failure)

    def _start_many(self, definitions: list[SinkDefinition]) -> dict[str, str]:
        """Start each definition; return name → error for those that could not start."""
        problems: dict[str, str] = {}
        fresh: dict[str, Worker] = {}
        for definition in definitions:
            try:
                worker = self._factory(definition, self._connections, self._listener)
                worker.start()
            except PermanentError as exc:
                problems[definition.name] = str(exc)
                self._log.sink_failed(definition.name, str(exc))
                continue
            except Exception as exc:  # a defect in one sink must not abort the whole reload
                problems[definition.name] = f"{type(exc).__name__}: {exc}"
                self._log.sink_failed(definition.name, problems[definition.name])
                continue
            fresh[definition.name] = worker
        # one grace period for the whole batch, not one per sink
        deadline = time.monotonic() + self._start_grace
        for name, worker in fresh.items():
            remaining = max(0.0, deadline - time.monotonic())
            worker.wait_for(SinkState.RUNNING, SinkState.FAILED, timeout=remaining)
            status = worker.status()
            if status.state is SinkState.FAILED:
                # Its sink.failed line came from the worker (listener), with cause and position.
                problems[name] = status.last_error or status.reason or "failed at start"
                worker.stop(timeout=self._stop_timeout)
        with self._state_lock:
            for definition in definitions:
                name = definition.name
                before = self._records.get(name)
                restarts = before.restarts if before is not None else 0
                if name in problems:
                    self._records[name] = SinkRecord(
                        definition,
                        idle=IdleState.FAILED,
                        reason=problems[name],
                        restarts=restarts,
                        held=True,
                    )
                else:
                    self._records[name] = SinkRecord(definition, fresh[name], restarts=restarts)
        for definition in definitions:
            if definition.name not in problems:
                self._log.sink_started(definition)
        return problems

    def _stop_many(self, workers: Mapping[str, Worker], timeout: float) -> list[str]:
        """Stop workers in parallel; return the names still running past ``timeout``."""
        if not workers:
            return []
        results: dict[str, bool] = {}

        def stop_one(name: str, worker: Worker) -> None:
            results[name] = worker.stop(timeout=timeout)

        threads = [
            threading.Thread(target=stop_one, args=(n, w), name=f"stop-{n}", daemon=True)
            for n, w in workers.items()
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + timeout + 1.0
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return sorted(n for n in workers if not results.get(n, False))

    # ---------------------------------------------------------------- shutdown
    def shutdown(self, deadline: float = SHUTDOWN_TIMEOUT_S) -> ShutdownResult:
        """Stop every sink (flush, final checkpoint) within ``deadline`` seconds."""
        with self._apply_lock:
            started = time.monotonic()
            with self._state_lock:
                workers = {n: r.worker for n, r in self._records.items() if r.worker is not None}
                for name in workers:
                    self._records.pop(name)
            names = sorted(workers)
            self._log.shutting_down(len(names), deadline)
            stuck = self._stop_many(workers, deadline)
            for name in names:
                self._log.sink_stopped(name, stuck=name in stuck)
            return ShutdownResult(
                stopped=tuple(n for n in names if n not in stuck),
                stuck=tuple(stuck),
                duration_s=time.monotonic() - started,
            )

    # ------------------------------------------------------------------- views
    def worker(self, name: str) -> Worker | None:
        """The live worker of ``name`` (tests use identity to prove no restart)."""
        with self._state_lock:
            record = self._records.get(name)
        return record.worker if record is not None else None

    def definitions(self) -> Mapping[str, SinkDefinition]:
        """Every known definition: running, disabled or failed."""
        with self._state_lock:
            return {n: r.definition for n, r in self._records.items()}

    def views(self) -> list[SinkView]:
        with self._state_lock:
            records = dict(self._records)
        views: list[SinkView] = []
        for name in sorted(records):
            record = records[name]
            definition = record.definition
            issues = self._issues_of(definition.source_file)
            if record.worker is not None:
                views.append(
                    SinkView.of_status(record.worker.status(), definition, issues, record.restarts)
                )
                continue
            assert record.idle is not None
            failed = record.idle is IdleState.FAILED
            views.append(
                SinkView(
                    name=name,
                    state=record.idle.value,
                    reason=record.reason,
                    digest=definition.digest,
                    source_file=definition.source_file,
                    enabled=definition.enabled,
                    last_error=record.reason if failed else None,
                    issues=issues,
                    restarts=record.restarts,
                    guarantee=guarantee_of(definition),
                )
            )
        return views

    def view(self, name: str) -> SinkView | None:
        for v in self.views():
            if v.name == name:
                return v
        return None
