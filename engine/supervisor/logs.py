"""The engine's event log: one line per event worth knowing about.

Events: a sink started / stopped / failed / rolled back, a reload plan, a file
rejected (one line per diagnostic, with its file:line:column), shutdown; and what a
running sink reports through its listener (``IncidentLog``): FAILED, BACKOFF, a
dependency lost or back, a poison event skipped or dead-lettered, each one line
naming the sink, the cause, the position and the reason. Lines are
plain text by default (``time LEVEL event key=value ...``) or one JSON object per
line with ``--log-format json``.

Nothing secret is ever written: settings only reach a line through
``engine.config.masking.mask_settings``, and only a few chosen keys are shown; and
once ``mask_with`` gave the log the secret values the sink files rendered, every
field of every line (a topic or broker address written from ``secret()``, a failure's
reason, a Kafka client line) is masked as a value before the line is formatted.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from engine.config.secretbook import SecretBook
from engine.runtime.worker_api import Incident, IncidentKind, SinkState
from engine.specification.model import Diagnostic, SinkDefinition

if TYPE_CHECKING:
    from engine.supervisor.plan import Plan
    from engine.supervisor.results import ReloadResult

_SHOWN_SETTINGS = ("topic", "bootstrapServers", "authentication:securityProtocol")


def _masked(definition: SinkDefinition) -> dict[str, Any]:
    from engine.config.masking import mask_settings

    masked: dict[str, Any] = mask_settings(definition.plain_canonical())
    return masked


class EventLog:
    def __init__(self, stream: TextIO | None = None, fmt: str = "text") -> None:
        if fmt not in ("text", "json"):
            raise ValueError(f"unknown log format {fmt!r} (text or json)")
        self._stream = stream
        self._fmt = fmt
        self._lock = threading.Lock()  # lines from worker threads must not interleave
        self._secrets: SecretBook | None = None

    def mask_with(self, secrets: SecretBook) -> None:
        """Mask every field with these secret values (the book keeps filling on reloads)."""
        self._secrets = secrets

    @classmethod
    def quiet(cls) -> EventLog:
        return cls(stream=None)

    # ---------------------------------------------------------------- writing
    def emit(self, level: str, event: str, **fields: Any) -> None:
        if self._stream is None:
            return
        if self._secrets:
            fields = {key: self._secrets.mask_value(value) for key, value in fields.items()}
        now = time.time()
        if self._fmt == "json":
            body = {"ts": round(now, 3), "level": level, "event": event}
            body.update({k: v for k, v in fields.items() if v is not None})
            line = json.dumps(body, default=str, separators=(",", ":"))
        else:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            parts = [f"{stamp}.{int(now % 1 * 1000):03d}Z", f"{level:<5}", event]
            for key, value in fields.items():
                if value is None:
                    continue
                text = str(value)
                if " " in text or not text:
                    text = json.dumps(text)
                parts.append(f"{key}={text}")
            line = " ".join(parts)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    # ----------------------------------------------------------------- events
    def engine_started(self, sinks: int, status_addr: str | None) -> None:
        self.emit("INFO", "engine.started", sinks=sinks, status=status_addr)

    def sink_started(self, definition: SinkDefinition) -> None:
        masked = _masked(definition)
        self.emit(
            "INFO",
            "sink.started",
            name=definition.name,
            file=definition.source_file or None,
            digest=definition.digest,
            **{k.replace(":", "."): masked.get(k) for k in _SHOWN_SETTINGS},
        )

    def sink_stopped(self, name: str, *, stuck: bool = False) -> None:
        if stuck:
            self.emit("ERROR", "sink.stuck", name=name, note="did not stop within the deadline")
        else:
            self.emit("INFO", "sink.stopped", name=name)

    def sink_failed(self, name: str, error: str) -> None:
        self.emit("ERROR", "sink.failed", name=name, error=error)

    def incident(self, name: str, incident: Incident) -> None:
        self.emit(
            _INCIDENT_LEVELS[incident.kind],
            f"sink.{incident.kind.value}",
            name=name,
            cause=incident.cause.value,
            position=incident.position,
            reason=incident.reason,
        )

    def rollback(self, name: str, error: str) -> None:
        self.emit("WARN", "sink.rolled_back", name=name, error=error)

    def file_rejected(self, path: str, diagnostics: Sequence[Diagnostic]) -> None:
        if not diagnostics:
            self.emit("ERROR", "file.rejected", file=path)
        for d in diagnostics:
            where = d.location.format() if d.location else path
            self.emit("ERROR", "file.rejected", file=path, at=where, diagnostic=d.format())

    def file_pending(self, path: str) -> None:
        self.emit(
            "INFO", "file.pending", file=path, note="still loading; its last good version runs"
        )

    def reload_plan(self, plan: Plan) -> None:
        self.emit(
            "INFO",
            "reload.plan",
            added=",".join(d.name for d in plan.added) or None,
            changed=",".join(c.name for c in plan.changed) or None,
            removed=",".join(d.name for d in plan.removed) or None,
            unchanged=len(plan.unchanged),
        )

    def reload_done(self, result: ReloadResult) -> None:
        if result.outcome.value == "unchanged":
            return
        self.emit(
            "INFO" if result.outcome.value == "applied" else "WARN",
            "reload.done",
            outcome=result.outcome.value,
            rejected=",".join(result.rejected_files) or None,
            rolled_back=",".join(r.name for r in result.rolled_back) or None,
            pending=",".join(result.pending_files) or None,
            seconds=round(result.duration_s, 3),
        )

    def shutting_down(self, sinks: int, deadline: float) -> None:
        self.emit("INFO", "engine.stopping", sinks=sinks, deadline_s=deadline)


_INCIDENT_LEVELS = {
    IncidentKind.FAILED: "ERROR",
    IncidentKind.BACKOFF: "WARN",
    IncidentKind.LOST: "WARN",
    IncidentKind.BACK: "INFO",
    IncidentKind.SKIPPED: "WARN",
    IncidentKind.DEAD_LETTERED: "WARN",
    IncidentKind.TOPIC_DIFFERS: "WARN",
    IncidentKind.TOPIC_NOT_CREATED: "WARN",
}


class IncidentLog:
    """A ``WorkerListener`` writing the incidents of running sinks into the event log."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def on_incident(self, sink: str, incident: Incident) -> None:
        self._log.incident(sink, incident)

    def on_state(self, sink: str, state: SinkState, reason: str | None) -> None: ...
    def on_read(self, sink: str, count: int) -> None: ...
    def on_delivered(self, sink: str, count: int, latencies_s: Sequence[float]) -> None: ...
    def on_failed(self, sink: str, count: int) -> None: ...
    def on_checkpoint(self, sink: str, position: int) -> None: ...


_LEVELS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN"}


_DIGITS = re.compile(r"\d+")


class ClientLogBridge(logging.Handler):
    """Writes the Kafka client's log lines (``engine.kafka.<client id>``) as events.

    librdkafka formats its lines as ``FACILITY [instance] text``; they become
    ``kafka.client`` events naming the sink, so one log holds everything.

    While a broker is away librdkafka repeats the same line at every reconnect
    (several a second): a line that matches one written less than ``quiet_s``
    ago (numbers aside) is only counted, and the next one written says how many
    were left out (``repeated=N``).
    """

    def __init__(
        self,
        log: EventLog,
        client_logger: str,
        sink_prefix: str,
        *,
        quiet_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(logging.DEBUG)
        self._log = log
        self._prefix = client_logger + "."
        self._sink_prefix = sink_prefix
        self._quiet_s = quiet_s
        self._clock = clock
        self._recent: dict[tuple[str, int, str], tuple[float, int]] = {}  # → written at, left out

    def emit(self, record: logging.LogRecord) -> None:
        # logging.Handler.handle holds this handler's lock: one emit at a time.
        client = record.name[len(self._prefix) :] if record.name.startswith(self._prefix) else ""
        sink = client[len(self._sink_prefix) :] if client.startswith(self._sink_prefix) else None
        facility, _, text = record.getMessage().partition(" ")
        now = self._clock()
        key = (record.name, record.levelno, _DIGITS.sub("#", facility + " " + text))
        written_at, left_out = self._recent.get(key, (-self._quiet_s, 0))
        if now - written_at < self._quiet_s:
            self._recent[key] = (written_at, left_out + 1)
            return
        if len(self._recent) > 1000:  # bounded: forget lines not seen lately
            self._recent = {k: v for k, v in self._recent.items() if now - v[0] < self._quiet_s}
        self._recent[key] = (now, 0)
        self._log.emit(
            _LEVELS.get(record.levelno, "ERROR"),
            "kafka.client",
            sink=sink,
            client=None if sink else client or record.name,
            facility=facility,
            message=text,
            repeated=left_out or None,
        )


def stderr_log(fmt: str = "text") -> EventLog:
    return EventLog(sys.stderr, fmt)


def route_client_logs(log: EventLog, level: int = logging.INFO) -> ClientLogBridge:
    """Send the Kafka client's log lines from ``level`` up to ``log`` (once per process)."""
    from engine.adapters.kafka import CLIENT_LOGGER, SINK_CLIENT_PREFIX

    logger = logging.getLogger(CLIENT_LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, ClientLogBridge)]:
        logger.removeHandler(old)
    bridge = ClientLogBridge(log, CLIENT_LOGGER, SINK_CLIENT_PREFIX)
    logger.addHandler(bridge)
    logger.setLevel(level)
    logger.propagate = False
    return bridge
