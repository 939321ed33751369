"""One reload: poll the config source, hand its desired set to the supervisor, report.

``Reloader`` is the seam between files and workers. The source decides what is
desired (per-file last good, rejections, duplicate names); the supervisor makes the
workers match; start failures flow back to the source through the supervisor's
``on_start_failure`` callback, so the source holds a file on its restored
definitions until the file changes. ``apply`` is what hands the desired set to the
workers: the supervisor's own ``apply`` standalone; in cluster mode
``engine.supervisor.group.scope.OwnedScope.apply``, which keeps the sinks this member owns.

Guarantees:

* Every new rejection is logged once with its diagnostics; every reload is logged
  and passed to ``on_reload``.
* A file the poll left loading (a slow template, see ``engine.config.source``) is
  logged once as pending and listed in the result's ``pending_files``; the files
  that finished are applied without waiting for it, and its own result arrives with
  the reload its completion requests.
* The outcome is PARTIAL when a file was rejected or a sink rolled back or failed,
  UNCHANGED when nothing changed on disk and nothing had to be done, else APPLIED.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from engine.config.source import ConfigSource, Poll
from engine.specification.model import Diagnostic, Location, SinkDefinition
from engine.supervisor.logs import EventLog
from engine.supervisor.results import Applied, ReloadOutcome, ReloadResult, SinkView
from engine.supervisor.supervisor import Supervisor

Apply = Callable[[Mapping[str, SinkDefinition]], Applied]


class Reloader:
    def __init__(
        self,
        source: ConfigSource,
        supervisor: Supervisor,
        *,
        log: EventLog | None = None,
        on_reload: Callable[[ReloadResult], None] | None = None,
        apply: Apply | None = None,
    ) -> None:
        self.source = source
        self.supervisor = supervisor
        self._log = log or EventLog.quiet()
        self._on_reload = on_reload
        self._apply = apply or supervisor.apply
        self.last_reload: ReloadResult | None = None
        self._pending: set[str] = set()  # files pending at the last poll

    def views(self) -> list[SinkView]:
        """The supervisor's views (the status server reads them here with ``last_reload``)."""
        return self.supervisor.views()

    def reload(self, poll: Poll | None = None) -> ReloadResult:
        """Apply ``poll`` (default: a fresh poll of the source)."""
        started = time.monotonic()
        poll = poll if poll is not None else self.source.poll()
        for verdict in poll.files:
            if verdict.newly_rejected:
                self._log.file_rejected(verdict.path, verdict.diagnostics)
            if verdict.pending and verdict.path not in self._pending:
                self._log.file_pending(verdict.path)
        self._pending = set(poll.pending_files)
        applied = self._apply(poll.desired)
        result = reload_result(poll, applied, time.monotonic() - started)
        self.last_reload = result
        self._log.reload_done(result)
        if self._on_reload is not None:
            self._on_reload(result)
        return result


def reload_result(poll: Poll, applied: Applied, duration_s: float) -> ReloadResult:
    issues = list(poll.issues)
    for rb in applied.rolled_back:
        issues.append(
            Diagnostic(
                Location(rb.source_file),
                f"new definition could not start, previous one restored: {rb.error}",
                key=rb.name,
            )
        )
    rejected = poll.new_rejections
    if rejected or applied.rolled_back or applied.failed_to_start:
        outcome = ReloadOutcome.PARTIAL
    elif applied.plan.is_empty and not poll.changed_files:
        outcome = ReloadOutcome.UNCHANGED
    else:
        outcome = ReloadOutcome.APPLIED
    return ReloadResult(
        at=time.time(),
        plan=applied.plan,
        outcome=outcome,
        rejected_files=rejected,
        rolled_back=applied.rolled_back,
        failed_to_start=applied.failed_to_start,
        issues=tuple(issues),
        stuck=applied.stuck,
        duration_s=duration_s,
        pending_files=poll.pending_files,
    )
