"""``sinks run --processes N``: N members of one group on this machine, one parent.

A Python process runs its sinks on one interpreter, so a machine's other cores do
nothing for it. With ``--processes N`` the parent starts N children, each a full
``sinks run --group G`` member with its own status address, and the group spreads
the sinks over them exactly as it does over machines.

Guarantees:

* The parent restarts a child that exits without being asked to, after a pause
  that doubles from 1 s up to 30 s (reset once a child has lived 60 s), and logs
  every exit with the child's index, pid and exit code.
* SIGTERM/SIGINT go to every child; each leaves the group after stopping its sinks
  (flush, final checkpoint). The parent waits for all of them and exits with the
  most serious of their codes (``ExitCode.STUCK`` over anything else).
* SIGHUP goes to every child (each reloads its files).
* The parent's status address answers ``/healthz`` (200 while every child runs),
  ``/readyz`` (200 when every child is ready) and ``/members`` (each child: index,
  pid, status address, restarts, last exit code); every child serves its own
  ``/sinks`` and ``/metrics`` on the address listed there.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.specification.exitcodes import ExitCode

log = logging.getLogger("engine.supervisor.group.processes")

ChildCommand = Callable[[int, "str | None"], list[str]]
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
STABLE_AFTER_S = 60.0


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def child_addresses(parent: str | None, count: int) -> list[str | None]:
    """Status addresses for the children: the parent's port + 1 + i (free ports for 0)."""
    if parent is None:
        return [None] * count
    host, _, port_text = parent.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text)
    if port == 0:
        return [f"{host}:{free_port(host)}" for _ in range(count)]
    return [f"{host}:{port + 1 + i}" for i in range(count)]


@dataclass
class Child:
    index: int
    status_addr: str | None
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit: int | None = None
    pause: float = FIRST_PAUSE_S
    restart_at: float | None = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.proc.pid if self.proc is not None else None,
            "running": self.running(),
            "status_addr": self.status_addr,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }


def _exit_code(code: int) -> int:
    """A child's exit status as one of ours: ended by our SIGTERM early is a clean stop."""
    if code >= 0:
        return code
    if -code in (signal.SIGTERM, signal.SIGINT):
        return ExitCode.OK  # stopped before its own handlers were in place: nothing ran
    return ExitCode.INTERNAL


def _worst(codes: Sequence[int]) -> int:
    mine = [_exit_code(c) for c in codes]
    if not mine or all(c == 0 for c in mine):
        return ExitCode.OK
    if ExitCode.STUCK in mine:
        return ExitCode.STUCK
    return max(c for c in mine if c != 0)


class ProcessGroup:
    def __init__(
        self,
        command: ChildCommand,
        count: int,
        *,
        status_addr: str | None,
        shutdown_timeout: float,
        env: Mapping[str, str] | None = None,
    ) -> None:
        addresses = child_addresses(status_addr, count)
        self.children = [Child(i, addresses[i]) for i in range(count)]
        self._command = command
        self._env = dict(env) if env is not None else None
        self._status_addr = status_addr
        self._shutdown_timeout = shutdown_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- children ----------------------------------------------------------------------

    def _spawn(self, child: Child) -> None:
        child.proc = subprocess.Popen(self._command(child.index, child.status_addr), env=self._env)
        child.started_at = time.monotonic()
        child.restart_at = None
        log.info("processes.started", extra={"member": child.index, "pid": child.proc.pid})

    def _check(self, child: Child, now: float) -> None:
        if child.proc is None or child.restart_at is not None:
            if child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
            return
        code = child.proc.poll()
        if code is None:
            return
        child.last_exit = code
        if now - child.started_at >= STABLE_AFTER_S:
            child.pause = FIRST_PAUSE_S
        child.restart_at = now + child.pause
        log.warning(
            "processes.exited",
            extra={
                "member": child.index,
                "pid": child.proc.pid,
                "code": code,
                "restart_in_s": child.pause,
            },
        )
        child.pause = min(child.pause * 2, LONGEST_PAUSE_S)

    def signal_all(self, signum: int) -> None:
        with self._lock:
            for child in self.children:
                if child.running():
                    assert child.proc is not None
                    child.proc.send_signal(signum)

    def request_stop(self) -> None:
        self._stopping.set()

    def run(self) -> int:
        """Start every child and keep them running until ``request_stop``."""
        self._serve_status()
        with self._lock:
            for child in self.children:
                self._spawn(child)
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            with self._lock:
                for child in self.children:
                    self._check(child, now)
        return self._stop_children()

    def _stop_children(self) -> int:
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self._shutdown_timeout + 15.0
        codes: list[int] = []
        for child in self.children:
            if child.proc is None:
                continue
            try:
                codes.append(child.proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
                codes.append(ExitCode.STUCK)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        return _worst(codes)

    # -- status ------------------------------------------------------------------------

    def respond(self, path: str) -> tuple[int, dict[str, Any]]:
        path = path.split("?", 1)[0].rstrip("/") or "/"
        with self._lock:
            members = [c.to_json() for c in self.children]
        if path == "/healthz":
            alive = all(m["running"] for m in members)
            return (200 if alive else 503), {
                "status": "ok" if alive else "degraded",
                "members": members,
            }
        if path == "/readyz":
            waiting = [m["index"] for m in members if not _child_ready(m["status_addr"])]
            return (503 if waiting else 200), {"ready": not waiting, "not_ready": waiting}
        if path == "/members":
            return 200, {"members": members}
        return 404, {"error": f"unknown path {path!r}; each member serves /sinks and /metrics"}

    def _serve_status(self) -> None:
        if self._status_addr is None:
            return
        host, _, port = self._status_addr.rpartition(":")
        group = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, body = group.respond(self.path)
                data = json.dumps(body, indent=1).encode() + b"\n"
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="parent-http", daemon=True).start()


def _child_ready(addr: str | None) -> bool:
    if addr is None:
        return True  # without a status address there is nothing to ask; running is ready
    try:
        with urllib.request.urlopen(f"http://{addr}/readyz", timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
