"""The supervisor owns every sink worker and applies reloads one at a time.

Guarantees:

* A reload stops before it starts: removed sinks and the old side of changed sinks
  are stopped (flush, final checkpoint) before any new worker starts, so a changed
  sink resumes from the checkpoint its predecessor wrote and nothing is skipped.
* A changed sink whose new definition cannot start (``PermanentError`` from
  ``start()`` or FAILED within ``start_grace`` seconds) is rolled back: the
  previous definition starts again and the reload reports it.
* Per-file last good: a file that no longer renders or validates is rejected with
  its diagnostics; its sinks keep running on their last good definition while other
  files apply. A rejected (or rolled-back) file is not tried again until its
  content hash changes.
* ``shutdown(deadline)`` stops every worker in parallel and names those that did
  not stop in time.

``apply``/``reload``/``shutdown`` are serialised by one lock; ``views()`` and
``last_reload`` can be read from any thread at any time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from engine.errors import PermanentError
from engine.model import Diagnostic, Location, SinkDefinition
from engine.runtime.worker_api import Connections, SinkState, WorkerListener, WorkerStatus
from engine.supervisor.filestate import FileTracker
from engine.supervisor.logs import EventLog
from engine.supervisor.plan import Plan, plan
from engine.supervisor.results import (
    ReloadOutcome,
    ReloadResult,
    Rollback,
    ShutdownResult,
    SinkView,
)

if TYPE_CHECKING:
    from engine.config.loader import LoadResult


class Worker(Protocol):
    """The part of ``engine.runtime.worker.SinkWorker`` the supervisor uses."""

    def start(self) -> None: ...
    def stop(self, timeout: float = 30.0) -> bool: ...
    def status(self) -> WorkerStatus: ...
    def wait_for(self, *states: SinkState, timeout: float) -> bool: ...


WorkerFactory = Callable[[SinkDefinition, Connections, "WorkerListener | None"], Worker]


def _default_factory(
    definition: SinkDefinition, connections: Connections, listener: WorkerListener | None
) -> Worker:
    from engine.runtime.worker import SinkWorker

    worker: Worker = SinkWorker(definition, connections, listener)
    return worker


class Supervisor:
    def __init__(
        self,
        connections: Connections,
        *,
        loader: Callable[[], LoadResult] | None = None,
        root: str | Path | None = None,
        listener: WorkerListener | None = None,
        worker_factory: WorkerFactory | None = None,
        log: EventLog | None = None,
        start_grace: float = 2.0,
        stop_timeout: float = 30.0,
        on_reload: Callable[[ReloadResult], None] | None = None,
    ) -> None:
        self._connections = connections
        self._loader = loader
        self._listener = listener
        self._factory = worker_factory or _default_factory
        self._log = log or EventLog.quiet()
        self._start_grace = start_grace
        self._stop_timeout = stop_timeout
        self._on_reload = on_reload
        self._files = FileTracker(Path(root) if root is not None else None)
        self._apply_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._workers: dict[str, Worker] = {}
        self._running: dict[str, SinkDefinition] = {}  # what each worker runs (newest metadata)
        self._idle: dict[str, tuple[SinkDefinition, str, str | None]] = {}  # disabled / failed
        self._restarts: dict[str, int] = {}
        self._last_reload: ReloadResult | None = None

    # ----------------------------------------------------------------- reloads
    def reload(self) -> ReloadResult:
        """Load the directory again (through the loader given at construction) and apply."""
        if self._loader is None:
            raise RuntimeError("this supervisor was built without a loader")
        return self.apply(self._loader())

    def apply(self, load: LoadResult) -> ReloadResult:
        with self._apply_lock:
            started = time.monotonic()
            selection = self._files.select(load, self._known_definitions())
            desired = {d.name: d for d in selection.definitions if d.enabled}
            the_plan = plan(self._running, desired)
            for path in selection.new_rejections:
                self._log.file_rejected(path, self._files.diagnostics(path))
            if not the_plan.is_empty:
                self._log.reload_plan(the_plan)
            stuck, rolled_back, failed = self._execute(
                the_plan, selection.definitions, frozenset(f.path for f in load.files)
            )
            issues = list(selection.issues)
            for rb in rolled_back:
                issues.append(
                    Diagnostic(
                        Location(rb.source_file),
                        f"new definition could not start, previous one restored: {rb.error}",
                        key=rb.name,
                    )
                )
            if selection.new_rejections or rolled_back or failed:
                outcome = ReloadOutcome.PARTIAL
            elif the_plan.is_empty and not selection.changed_files:
                outcome = ReloadOutcome.UNCHANGED
            else:
                outcome = ReloadOutcome.APPLIED
            result = ReloadResult(
                at=time.time(),
                plan=the_plan,
                outcome=outcome,
                rejected_files=selection.new_rejections,
                rolled_back=tuple(rolled_back),
                failed_to_start=tuple(failed),
                issues=tuple(issues),
                stuck=tuple(stuck),
                duration_s=time.monotonic() - started,
            )
            self._last_reload = result
        self._log.reload_done(result)
        if self._on_reload is not None:
            self._on_reload(result)
        return result

    def _known_definitions(self) -> dict[str, SinkDefinition]:
        with self._state_lock:
            known = {n: d for n, (d, _, _) in self._idle.items()}
            known.update(self._running)
        return known

    def _execute(
        self, the_plan: Plan, selected: tuple[SinkDefinition, ...], files: frozenset[str]
    ) -> tuple[list[str], list[Rollback], list[str]]:
        names = {d.name for d in selected}
        with self._state_lock:
            # metadata-only updates (file moved, comments): same worker, newer definition
            for definition in the_plan.unchanged:
                self._running[definition.name] = definition
            idle: dict[str, tuple[SinkDefinition, str, str | None]] = {
                d.name: (d, "DISABLED", "disabled in its file") for d in selected if not d.enabled
            }
            for name, entry in self._idle.items():
                # a sink that failed to start stays visible while its file is still there
                if (
                    entry[1] == "FAILED"
                    and name not in idle
                    and (name in names or entry[0].source_file in files)
                ):
                    idle[name] = entry
            self._idle = idle
        to_stop = [d.name for d in the_plan.removed] + [c.name for c in the_plan.changed]
        stuck = self._stop_many(to_stop, self._stop_timeout)
        for name in to_stop:
            self._log.sink_stopped(name, stuck=name in stuck)
        with self._state_lock:
            for d in the_plan.removed:
                self._running.pop(d.name, None)
            # never run two workers of one sink: a stuck predecessor keeps its successor out
            for c in the_plan.changed:
                if c.name in stuck:
                    self._running.pop(c.name, None)
                    reason = "previous worker did not stop in time; not restarted"
                    self._idle[c.name] = (c.new, "FAILED", reason)
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
                self._files.mark_rolled_back(added.source_file, None, name, error)
                continue
            self._log.rollback(name, error)
            rolled_back.append(Rollback(name, error, change.new.source_file))
            self._files.mark_rolled_back(change.new.source_file, change.old, name, error)
            if self._start_many([change.old]):
                failed.append(name)
        with self._state_lock:
            for name in changes:
                if name not in problems:
                    self._restarts[name] = self._restarts.get(name, 0) + 1
        return stuck, rolled_back, failed

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
                problems[name] = status.last_error or status.reason or "failed at start"
                self._log.sink_failed(name, problems[name])
                worker.stop(timeout=self._stop_timeout)
        by_name = {d.name: d for d in definitions}
        with self._state_lock:
            for name, worker in fresh.items():
                if name in problems:
                    self._idle[name] = (by_name[name], "FAILED", problems[name])
                    self._running.pop(name, None)
                    self._workers.pop(name, None)
                else:
                    self._workers[name] = worker
                    self._running[name] = by_name[name]
                    self._idle.pop(name, None)
            for name, error in problems.items():
                if name not in fresh:
                    self._idle[name] = (by_name[name], "FAILED", error)
                    self._running.pop(name, None)
        for name in fresh:
            if name not in problems:
                self._log.sink_started(by_name[name])
        return problems

    def _stop_many(self, names: list[str], timeout: float) -> list[str]:
        """Stop workers in parallel; return the names still running past ``timeout``."""
        with self._state_lock:
            workers = {n: self._workers.pop(n) for n in names if n in self._workers}
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
    def shutdown(self, deadline: float = 30.0) -> ShutdownResult:
        """Stop every sink (flush, final checkpoint) within ``deadline`` seconds."""
        with self._apply_lock:
            started = time.monotonic()
            with self._state_lock:
                names = sorted(self._workers)
            self._log.shutting_down(len(names), deadline)
            stuck = self._stop_many(names, deadline)
            for name in names:
                self._log.sink_stopped(name, stuck=name in stuck)
            with self._state_lock:
                self._running.clear()
            return ShutdownResult(
                stopped=tuple(n for n in names if n not in stuck),
                stuck=tuple(stuck),
                duration_s=time.monotonic() - started,
            )

    # ------------------------------------------------------------------- views
    @property
    def last_reload(self) -> ReloadResult | None:
        return self._last_reload

    def worker(self, name: str) -> Worker | None:
        """The live worker of ``name`` (tests use identity to prove no restart)."""
        with self._state_lock:
            return self._workers.get(name)

    def definitions(self) -> Mapping[str, SinkDefinition]:
        """Every known definition: running, disabled or failed."""
        return self._known_definitions()

    def views(self) -> list[SinkView]:
        with self._state_lock:
            workers = dict(self._workers)
            running = dict(self._running)
            idle = dict(self._idle)
            restarts = dict(self._restarts)
        views: list[SinkView] = []
        for name in sorted(set(running) | set(idle)):
            issues: tuple[str, ...] = ()
            if name in running:
                definition = running[name]
                issues = self._files.issue_lines(definition.source_file)
                worker = workers.get(name)
                if worker is None:  # between the stop and the start of a reload
                    views.append(
                        SinkView(
                            name=name,
                            state="DEACTIVATING",
                            reason="reloading",
                            digest=definition.digest,
                            source_file=definition.source_file,
                            enabled=True,
                            issues=issues,
                            restarts=restarts.get(name, 0),
                        )
                    )
                    continue
                s = worker.status()
                views.append(
                    SinkView(
                        name=name,
                        state=s.state.name,
                        reason=s.reason,
                        digest=definition.digest,
                        source_file=definition.source_file,
                        enabled=True,
                        read=s.read,
                        delivered=s.delivered,
                        failed=s.failed,
                        last_delivered_position=s.last_delivered_position,
                        checkpoint_position=s.checkpoint_position,
                        last_error=s.last_error,
                        issues=issues,
                        restarts=restarts.get(name, 0),
                        caught_up=s.caught_up,
                    )
                )
            else:
                definition, state, reason = idle[name]
                views.append(
                    SinkView(
                        name=name,
                        state=state,
                        reason=reason,
                        digest=definition.digest,
                        source_file=definition.source_file,
                        enabled=definition.enabled,
                        last_error=reason if state == "FAILED" else None,
                        issues=self._files.issue_lines(definition.source_file),
                        restarts=restarts.get(name, 0),
                    )
                )
        return views

    def view(self, name: str) -> SinkView | None:
        for v in self.views():
            if v.name == name:
                return v
        return None
