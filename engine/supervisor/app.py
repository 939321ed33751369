"""The running engine assembled: config source, supervisor, metrics, status HTTP, watcher.

``EngineApp`` is what ``sinks run`` drives:

1. ``load()`` polls the config source once (render, validate every file); the caller
   refuses to start when any file has errors.
2. ``start(poll)`` applies that same poll (every enabled sink starts), then starts the
   status server and the watcher.
3. ``serve()`` takes reload requests (file changes, SIGHUP) on the calling thread
   until ``request_stop()`` (SIGTERM/SIGINT in ``sinks run``); each one polls the
   same source again, which re-reads only the files that changed. Changed files
   load each on its own thread: a reload applies the ones done within
   ``RELOAD_PATIENCE_S`` and a slow one (a template rendering for seconds) keeps its
   last good version until it finishes, which requests the next reload.
4. ``request_stop()`` ends ``serve()`` (a reload waiting for a slow file returns at
   once) and ``shutdown()`` stops every sink within the deadline and reports stuck
   ones. Neither waits for a template still rendering: its render is cancelled (it
   stops at its next sandbox check, on a daemon thread) and its result dropped, so
   the file's last good version is what ran until the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config.source import ConfigSource, Poll
from engine.runtime.worker_api import Connections, Fanout
from engine.specification.constants import (
    DEFAULT_ENGINE_ID,
    DEFAULT_KURRENTDB_URL,
    DEFAULT_SINKS_DIR,
    DEFAULT_STATUS_ADDR,
    FIRST_LOAD_PATIENCE_S,
    QUEUE_RECHECK_S,
    RELOAD_LOAD_WORKERS,
    RELOAD_PATIENCE_S,
    SHUTDOWN_TIMEOUT_S,
)
from engine.specification.model import SinkDefinition
from engine.specification.naming import transactional_prefix
from engine.supervisor.group.membership import Membership
from engine.supervisor.group.metrics import GroupCollector
from engine.supervisor.group.scope import OwnedScope
from engine.supervisor.group.view import GroupView
from engine.supervisor.logs import EventLog, IncidentLog
from engine.supervisor.metrics import EngineMetrics
from engine.supervisor.reload import Reloader
from engine.supervisor.results import Applied, ReloadResult, ShutdownResult, StartFailure
from engine.supervisor.status import HeadPoller, StatusServer, kurrentdb_head_reader
from engine.supervisor.supervisor import Supervisor
from engine.supervisor.watcher import ReloadQueue, Watcher

if TYPE_CHECKING:
    from engine.supervisor.group.options import ClusterOptions
    from engine.supervisor.supervisor import WorkerFactory


@dataclass(frozen=True)
class EngineOptions:
    sinks_dir: Path = Path(DEFAULT_SINKS_DIR)
    env: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    kurrentdb_url: str = DEFAULT_KURRENTDB_URL
    status_addr: str | None = DEFAULT_STATUS_ADDR  # None: no HTTP server
    status_token: str | None = field(default=None, repr=False)  # None: no credentials asked
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_S
    start_grace: float = 2.0
    watch: bool = True
    extra_watch_paths: tuple[Path, ...] = ()
    head_interval: float = 5.0
    cluster: ClusterOptions | None = None  # None: standalone
    engine_id: str = DEFAULT_ENGINE_ID  # standalone: in exactlyOnce sinks' transactional ids


class EngineApp:
    def __init__(
        self,
        options: EngineOptions,
        log: EventLog | None = None,
        worker_factory: WorkerFactory | None = None,
    ) -> None:
        self.options = options
        self.log = log or EventLog.quiet()
        self.metrics = EngineMetrics()
        self.queue = ReloadQueue()
        self.reloaded = threading.Condition()
        self.reload_count = 0
        self._scope: OwnedScope | None = None
        self.source = ConfigSource(
            options.sinks_dir,
            env=options.env,
            overrides=dict(options.overrides) or None,
            render_workers=RELOAD_LOAD_WORKERS,
            render_patience=RELOAD_PATIENCE_S,
            on_ready=self._file_loaded,
            first_patience=FIRST_LOAD_PATIENCE_S,
        )
        self.log.mask_with(self.source.secrets)
        self.supervisor: Supervisor = Supervisor(
            Connections(
                kurrentdb_url=options.kurrentdb_url,
                transactional_prefix=(
                    None if options.cluster is None else transactional_prefix(options.cluster.group)
                ),
                exactly_once_prefix=transactional_prefix(
                    options.engine_id if options.cluster is None else options.cluster.group
                ),
                lease=None if options.cluster is None else self._lease_valid,
            ),
            # Metrics count what a running sink reports; the event log writes its incidents.
            listener=Fanout(self.metrics, IncidentLog(self.log)),
            worker_factory=worker_factory,
            log=self.log,
            start_grace=options.start_grace,
            stop_timeout=options.shutdown_timeout,
            on_start_failure=self._start_failed,
            issues_of=self.source.issue_lines,
        )
        self.membership: Membership | None = None
        self.group_view: GroupView | None = None
        apply: Callable[[Mapping[str, SinkDefinition]], Applied] = self.supervisor.apply
        if options.cluster is not None:
            apply = self._join(options.cluster)
        self.reloader = Reloader(
            self.source, self.supervisor, log=self.log, on_reload=self._reloaded, apply=apply
        )
        if self.membership is not None and self._scope is not None:
            self.group_view = GroupView(self.reloader, self._scope, self.membership)
        self.status: StatusServer | None = None
        self.watcher: Watcher | None = None

    def _join(self, cluster: ClusterOptions) -> Callable[[Mapping[str, SinkDefinition]], Applied]:
        """Cluster mode: the supervisor runs only the sinks the group gives this member."""
        self._scope = OwnedScope(self.supervisor.apply)
        self.membership = Membership(cluster.connection, cluster.group, self._scope, log=self.log)
        self._scope.attach(self.membership)
        self.metrics.registry.register(GroupCollector(self.membership))
        return self._scope.apply

    def _lease_valid(self) -> bool:
        # Read when a sink commits, by then the membership exists (it joins before any
        # sink starts).
        return self.membership is not None and self.membership.lease_valid()

    def load(self) -> Poll:
        """The first poll of the source: check ``poll.result.ok`` before ``start``."""
        return self.source.poll()

    @property
    def last_reload(self) -> ReloadResult | None:
        return self.reloader.last_reload

    def _file_loaded(self, path: str) -> None:
        # A file a reload left loading is done (on a render thread): reload again.
        self.queue.post(f"file loaded: {Path(path).name}")

    def _start_failed(self, failure: StartFailure) -> None:
        self.source.start_failed(failure.failed, failure.restored, failure.error)

    def _reloaded(self, result: ReloadResult) -> None:
        self.metrics.record_reload(result)
        with self.reloaded:
            self.reload_count += 1
            self.reloaded.notify_all()

    def start(self, poll: Poll) -> ReloadResult:
        """Start the sinks of ``poll`` (already checked), then HTTP and the watcher."""
        o = self.options
        if o.status_addr:
            head = HeadPoller(kurrentdb_head_reader(o.kurrentdb_url), o.head_interval)
            view = self.group_view
            self.status = StatusServer(
                view or self.reloader,
                self.metrics,
                o.status_addr,
                head,
                group=view.group_json if view is not None else None,
                token=o.status_token,
                secrets=self.source.secrets,
                on_error=lambda line: self.log.emit("WARN", "status.request_failed", error=line),
            )
            if self.status.exposed:
                self.log.emit(
                    "WARN",
                    "status.exposed",
                    addr=o.status_addr,
                    note="reachable from other machines; "
                    + ("a bearer token is required" if o.status_token else "no token is required"),
                )
            self.status.start()  # before the sinks: readiness is visible while they start
        if self.membership is not None:
            # Join before the first apply: that apply creates the control topics, and
            # ownership arrives through the group from then on.
            self.membership.start()
            if self.group_view is not None:
                self.group_view.start()
        result = self.reloader.reload(poll)
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
            # A bounded wait: SIGTERM and SIGHUP post from a signal handler, which runs
            # on this thread; one that lands between take()'s check and its wait would
            # notify nobody, and an unbounded wait would then never end (a member once
            # did not stop on SIGTERM that way). The flag is read again each second.
            reasons = self.queue.take(timeout=QUEUE_RECHECK_S)
            if self.queue.stopping:
                return
            if not reasons:
                continue
            self.log.emit("INFO", "reload.requested", reason="; ".join(reasons))
            try:
                self.reloader.reload()
            except Exception as exc:  # a broken reload must not take the running sinks down
                self.log.emit("ERROR", "reload.failed", error=f"{type(exc).__name__}: {exc}")

    def request_reload(self, reason: str = "requested") -> None:
        self.queue.post(reason)

    def request_stop(self) -> None:
        self.queue.stop()
        self.source.close()  # a reload waiting for a slow file returns at once

    def shutdown(self) -> ShutdownResult:
        self.source.close()  # renders in progress are cancelled, not waited for
        if self.watcher is not None:
            self.watcher.stop()
        if self.membership is not None:
            # Leaving the group stops every owned sink (revoke) before the group
            # hands them to the other members.
            self.membership.stop(timeout=self.options.shutdown_timeout + 15.0)
        if self.group_view is not None:
            self.group_view.stop()
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
