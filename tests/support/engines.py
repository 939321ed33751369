"""The engine as the tests run it: in this process, or as ``sinks run`` processes.

* ``EngineInThread`` is ``EngineApp`` (config source, supervisor, workers, optional
  watcher and status HTTP) serving reloads on a thread; with ``serve=False`` nothing is
  started and the test applies the folder with ``reload()`` itself. Real workers, or
  the fakes of a ``worker_factory``.
* ``EngineProcess`` is one ``sinks run`` process with its own status address and a JSON
  log file, started again after a kill or a stop; standalone (``engine_id``) or a member
  of a group (``group``, ``group_bootstrap``).

Both wait on what the engine reports (reload counts, sink status), never for a time.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.supervisor.app import EngineApp, EngineOptions
from engine.supervisor.logs import EventLog
from engine.supervisor.results import ReloadResult, ShutdownResult, SinkView
from engine.supervisor.supervisor import Supervisor, Worker, WorkerFactory
from tests.support.ports import free_port
from tests.support.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
STOP_WAIT_S = 30.0  # for the serving thread, and for a process after SIGKILL
DUMP_WAIT_S = 1.0  # for a hung process to write its threads' stacks (SIGUSR1)


class EngineInThread:
    """``EngineApp`` on ``root``; ``options`` are ``EngineOptions`` fields."""

    def __init__(
        self,
        root: Path,
        *,
        worker_factory: WorkerFactory | None = None,
        log: EventLog | None = None,
        serve: bool = True,
        **options: Any,
    ) -> None:
        self.root = root
        self.app = EngineApp(
            EngineOptions(sinks_dir=root, **options), log=log, worker_factory=worker_factory
        )
        self.serving: threading.Thread | None = None
        if serve:
            first = self.app.load()
            assert first.result.ok, [d.format() for d in first.result.diagnostics]
            self.app.start(first)
            self.serving = threading.Thread(target=self.app.serve, name="test-serve", daemon=True)
            self.serving.start()

    @property
    def supervisor(self) -> Supervisor:
        return self.app.supervisor

    def reload(self) -> ReloadResult:
        """Poll the folder and apply it, on the caller's thread (``serve=False``)."""
        return self.app.reloader.reload()

    def views(self) -> list[SinkView]:
        return self.supervisor.views()

    def view(self, name: str) -> SinkView | None:
        return self.supervisor.view(name)

    def worker(self, name: str) -> Worker | None:
        return self.supervisor.worker(name)

    def wait_reloaded(self, done: Callable[[], bool], timeout: float) -> None:
        """Wait until ``done()`` holds, checked after each reload the engine applies."""
        with self.app.reloaded:
            assert self.app.reloaded.wait_for(done, timeout), f"not done within {timeout}s"

    def after_reload(self, action: Callable[[], None], timeout: float = 30) -> ReloadResult:
        """Do ``action`` and wait for the reload it causes (and one for a file it left loading)."""

        def done() -> bool:
            last = self.app.last_reload
            return self.app.reload_count > seen and last is not None and not last.pending_files

        with self.app.reloaded:
            seen = self.app.reload_count
        action()
        self.wait_reloaded(done, timeout)
        result = self.app.last_reload
        assert result is not None
        return result

    def get(self, path: str) -> tuple[int, Any]:
        """(HTTP status, JSON body) of ``path`` on the status server."""
        assert self.app.status is not None, "no status server (status_addr=None)"
        url = f"http://{self.app.status.address}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def wait_delivered(self, name: str, at_least: int, timeout: float = 60) -> None:
        def enough() -> bool:
            view = self.supervisor.view(name)
            return view is not None and view.delivered >= at_least

        def shown() -> str:
            view = self.supervisor.view(name)
            return f"{name} to deliver {at_least}, delivered {view.delivered if view else None}"

        wait_until(enough, timeout, shown)

    def stop(self) -> ShutdownResult:
        """Stop serving (when it did) and shut the sinks down."""
        self.app.request_stop()
        if self.serving is not None:
            self.serving.join(STOP_WAIT_S)
        return self.app.shutdown()

    def shutdown(self, deadline: float) -> ShutdownResult:
        """The supervisor's own shutdown (``serve=False``: nothing else runs)."""
        return self.supervisor.shutdown(deadline)


class EngineProcess:
    """One ``sinks run`` process on ``folder``; ``start`` (again) to run it."""

    def __init__(
        self,
        folder: Path,
        kurrentdb_url: str,
        log: Path,
        *extra: str,
        engine_id: str | None = None,
        group: str | None = None,
        group_bootstrap: str | None = None,
        session_timeout_ms: int | None = None,
    ) -> None:
        self.group = group
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.log_path = log
        options: list[str] = []
        if engine_id is not None:
            options += ["--engine-id", engine_id]
        if group is not None:
            options += ["--group", group]
        if group_bootstrap is not None:
            options += ["--group-bootstrap", group_bootstrap]
        if session_timeout_ms is not None:
            options += ["--group-session-timeout-ms", str(session_timeout_ms)]
        self.command = [
            sys.executable,
            "-m",
            "engine.cli.main",
            "run",
            "--dir",
            str(folder),
            "--kurrentdb",
            kurrentdb_url,
            "--status-addr",
            self.addr,
            "--shutdown-timeout",
            "20",
            "--log-format",
            "json",
            *options,
            *extra,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> EngineProcess:
        assert not self.alive(), "already running"
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=out, stderr=out)
        self.starts += 1
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def get(self, path: str) -> Any:
        """The JSON body of ``path`` on its status address (None: not answering)."""
        try:
            with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())
        except OSError:
            return None

    def sink(self, name: str) -> dict[str, Any] | None:
        body = self.get(f"/sinks/{urllib.parse.quote(name, safe='')}")
        return body if isinstance(body, dict) and "state" in body else None

    def running(self) -> set[str]:
        """Sinks this engine runs now (RUNNING here)."""
        body = self.get("/sinks")
        if body is None:
            return set()
        return {s["name"] for s in body["sinks"] if s["state"] == "RUNNING"}

    def wait_sink(self, name: str, predicate: Any, timeout: float) -> dict[str, Any]:
        """Poll the sink's status until ``predicate(status)``; fail showing the last one."""
        last: list[dict[str, Any] | None] = [None]

        def holds() -> dict[str, Any] | None:
            assert self.alive(), f"sinks run exited {self.proc and self.proc.poll()}: {self.tail()}"
            last[0] = status = self.sink(name)
            return status if status is not None and predicate(status) else None

        return wait_until(holds, timeout, lambda: f"{name}, last status {last[0]}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(STOP_WAIT_S) == -signal.SIGKILL

    def stop(self, timeout: float = 60, *, check: bool = True) -> int | None:
        """SIGTERM (after SIGCONT, in case it is frozen) and wait; the exit code, None
        when it never ran. One still running after ``timeout`` writes its threads'
        stacks into its log (SIGUSR1) and is killed; ``check``: then fail showing the log."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(DUMP_WAIT_S)  # time to write the stacks; it will not exit
            self.proc.kill()
            code = self.proc.wait(STOP_WAIT_S)
        if check:
            raise AssertionError(f"sinks run did not stop in {timeout}s: {self.tail()}")
        return code

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                body = json.loads(raw)
            except ValueError:
                continue
            if isinstance(body, dict):
                lines.append(body)
        return lines

    def tail(self, lines: int = 15) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
