"""The running engine assembled: loader, supervisor, metrics, status HTTP, watcher.

``EngineApp`` is what ``sinks run`` (and ``sinks demo``) drive:

1. ``load()`` renders and validates every file; the caller refuses to start when
   any file has errors.
2. ``start(load)`` starts every enabled sink, the status server and the watcher.
3. ``serve()`` takes reload requests (file changes, SIGHUP) on the calling thread
   until ``request_stop()`` (SIGTERM/SIGINT in ``sinks run``).
4. ``shutdown()`` stops every sink within the deadline and reports stuck ones.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.supervisor.incremental import IncrementalLoader
from engine.supervisor.logs import EventLog
from engine.supervisor.metrics import EngineMetrics
from engine.supervisor.results import ReloadResult, ShutdownResult
from engine.supervisor.status import HeadPoller, StatusServer, kurrentdb_head_reader
from engine.supervisor.watcher import ReloadQueue, Watcher

if TYPE_CHECKING:
    from engine.config.loader import LoadResult
    from engine.supervisor.supervisor import Supervisor, WorkerFactory


@dataclass(frozen=True)
class EngineOptions:
    sinks_dir: Path = Path("sinks.d")
    env: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    kurrentdb_url: str = "esdb://localhost:2113?Tls=false"
    status_addr: str | None = "127.0.0.1:7781"  # None: no HTTP server
    shutdown_timeout: float = 30.0
    start_grace: float = 2.0
    watch: bool = True
    extra_watch_paths: tuple[Path, ...] = ()
    head_interval: float = 5.0


def load_sinks(options: EngineOptions) -> LoadResult:
    """Render and validate every file of the sink folder (no sink is touched)."""
    from engine.config.loader import load_directory

    o = options
    return load_directory(o.sinks_dir, env=o.env, overrides=dict(o.overrides) or None)


class EngineApp:
    def __init__(
        self,
        options: EngineOptions,
        log: EventLog | None = None,
        worker_factory: WorkerFactory | None = None,
    ) -> None:
        from engine.runtime.worker_api import Connections
        from engine.supervisor.supervisor import Supervisor

        self.options = options
        self.log = log or EventLog.quiet()
        self.metrics = EngineMetrics()
        self.queue = ReloadQueue()
        self.reloaded = threading.Condition()
        self.reload_count = 0
        # reloads re-read only changed files; the first one loads the whole folder
        self._incremental = IncrementalLoader(options.sinks_dir, options.env, options.overrides)
        self.supervisor: Supervisor = Supervisor(
            Connections(kurrentdb_url=options.kurrentdb_url),
            loader=self._incremental,
            root=options.sinks_dir,
            listener=self.metrics,
            worker_factory=worker_factory,
            log=self.log,
            start_grace=options.start_grace,
            stop_timeout=options.shutdown_timeout,
            on_reload=self._reloaded,
        )
        self.status: StatusServer | None = None
        self.watcher: Watcher | None = None

    def load(self) -> LoadResult:
        return load_sinks(self.options)

    def _reloaded(self, result: ReloadResult) -> None:
        self.metrics.record_reload(result)
        with self.reloaded:
            self.reload_count += 1
            self.reloaded.notify_all()

    def start(self, load: LoadResult) -> ReloadResult:
        """Start the sinks of ``load`` (already checked), then HTTP and the watcher."""
        o = self.options
        if o.status_addr:
            head = HeadPoller(kurrentdb_head_reader(o.kurrentdb_url), o.head_interval)
            self.status = StatusServer(self.supervisor, self.metrics, o.status_addr, head)
            self.status.start()  # before the sinks: readiness is visible while they start
        result = self.supervisor.apply(load)
        if o.watch:
            self.watcher = Watcher([o.sinks_dir, *o.extra_watch_paths], self.queue)
            self.watcher.start()
        self.log.engine_started(
            len(self.supervisor.views()), self.status.address if self.status else None
        )
        return result

    def serve(self) -> None:
        """Apply reload requests until ``request_stop``; reloads never overlap."""
        while True:
            reasons = self.queue.take()
            if self.queue.stopping:
                return
            if not reasons:
                continue
            self.log.emit("INFO", "reload.requested", reason="; ".join(reasons))
            try:
                self.supervisor.reload()
            except Exception as exc:  # a broken reload must not take the running sinks down
                self.log.emit("ERROR", "reload.failed", error=f"{type(exc).__name__}: {exc}")

    def request_reload(self, reason: str = "requested") -> None:
        self.queue.post(reason)

    def request_stop(self) -> None:
        self.queue.stop()

    def shutdown(self) -> ShutdownResult:
        if self.watcher is not None:
            self.watcher.stop()
        result = self.supervisor.shutdown(self.options.shutdown_timeout)
        if self.status is not None:
            self.status.stop()
        self.log.emit(
            "INFO" if not result.stuck else "ERROR",
            "engine.stopped",
            stopped=len(result.stopped),
            stuck=",".join(result.stuck) or None,
            seconds=round(result.duration_s, 3),
        )
        return result
