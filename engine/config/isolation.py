"""Evaluating one sink file in a bounded worker process: ``load_isolated``.

``load_isolated`` takes what ``engine.config.sinkfile.load_one`` takes and gives the
same ``FileResult``, but the load (render, parse, normalise, validate, compile the
regexes, JSONPath and JavaScript) runs in a worker process, so no file can hang or
exhaust the engine:

* Memory: a worker runs under a soft ``RLIMIT_AS`` of ``EVALUATION_MEMORY_BYTES``; an
  allocation beyond it fails there (``MemoryError``, re-raised by the loaders in such a
  process) and the file gets ``evaluating this file used more than 512 MiB (stopped)``.
  The worker then serves the next file. V8 cannot start under an address-space cap
  (it reserves terabytes), so a transformer's JavaScript is compiled in a child of the
  worker without it, under its own deadline and resident-memory watchdog
  (``engine.sandbox.transformer.source_problem``, ``engine.sandbox.limits.in_child``).
* Time: the parent waits ``EVALUATION_DEADLINE_S`` of wall clock from handing the file
  to a worker; past it, it kills the worker (and its process group, so the
  JavaScript child goes too) and the file gets ``evaluating this file took longer than
  15 s (stopped)``. Each file also gets ``EVALUATION_CPU_S`` of CPU time
  (``RLIMIT_CPU``, raised per file), the backstop for a worker whose parent is gone; a
  worker stopped by it is reported as passing the time bound.
* Cancellation: a load started inside ``cancel_renders_on(event)`` (a render thread
  of ``engine.config.renderpool``) checks the event every ``POLL_S``; once it is set,
  the worker is killed and the load returns at once with a "rendering cancelled"
  result (which the pool drops). So a stuck file superseded by a new save, or a
  shutdown, never waits for it.
* Workers are reused: a process-wide pool keeps up to ``IDLE_WORKERS`` idle workers,
  and only a killed (or dead) worker is replaced, by a new one started when a load
  needs it. Each load gets a worker of its own, so loads on several threads run in
  parallel, and a stuck one holds up no other.
* What crosses back is the ``FileResult`` and the secret values the render used
  (added to the caller's ``SecretBook``, so masking works as before); the caller's
  ``TemplateContext`` goes over as a ``ContextSpec`` (its values as loaded, its
  environment, its render bound), with the caller's working directory, which the
  worker moves to, so relative paths mean what they mean to the caller. A worker
  keeps the context it built for the last spec's token: the next file of the same
  poll renders in it (compiled macros reused) instead of a new one.

The workers come from ``multiprocessing``'s ``forkserver`` context, with this module
(and so the whole loader) preloaded in the server. Not ``fork``: the engine forks
from a process with many threads (readers, Kafka clients), and a forked child may
inherit a lock another thread held. Not ``spawn``: each replacement would import the
engine again (~0.5 s); a fork of the preloaded server starts in milliseconds. Not
``ProcessPoolExecutor``: it cannot kill the one worker running a stuck file (a
killed worker breaks the whole executor), nor hand a job to a chosen worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing import connection
from pathlib import Path
from typing import Any

# What the rules import lazily is imported here, so the process server preloads it and
# no worker has to map a C extension after lowering its address-space limit: under the
# limit, the `regex` extension once failed to map ("failed to map segment from shared
# object") and the file got an internal error instead of its verdict.
import engine.config.jsonpath_syntax
import engine.sandbox.regexes
import engine.sandbox.transformer  # noqa: F401
from engine.config.jinja_env import current_cancel
from engine.config.sinkfile import FileResult, load_one
from engine.config.templating import ContextSpec, SecretBook, TemplateContext
from engine.sandbox.limits import limit_address_space
from engine.specification.constants import (
    EVALUATION_CPU_S,
    EVALUATION_DEADLINE_S,
    EVALUATION_MEMORY_BYTES,
    RELOAD_LOAD_WORKERS,
)
from engine.specification.model import Diagnostic, Location

POLL_S = 0.05  # how often a waiting load looks at its cancel event
IDLE_WORKERS = RELOAD_LOAD_WORKERS
_MIB = 1024 * 1024


def time_message(seconds: float) -> str:
    return f"evaluating this file took longer than {seconds:g} s (stopped)"


def memory_message(limit: int) -> str:
    return f"evaluating this file used more than {limit // _MIB} MiB (stopped)"


def load_isolated(
    file: Path, display: str, context: TemplateContext, data: bytes | None = None
) -> FileResult:
    """``load_one`` in a bounded worker process (see the module); never raises."""
    request = _Request(str(file), display, data, context.spec(), _working_directory())
    try:
        return _shared_pool().evaluate(request, context.secrets, current_cancel())
    except Exception as exc:  # no worker could be started: this file alone fails
        return _problem(display, f"internal error while loading: {exc!r}")


# -- the messages between parent and worker ----------------------------------------------


@dataclass(frozen=True)
class _Request:
    file: str
    display: str
    data: bytes | None
    context: ContextSpec
    cwd: str | None  # the caller's: relative paths mean the same in the worker


@dataclass(frozen=True)
class _Loaded:
    result: FileResult
    secrets: frozenset[str]


@dataclass(frozen=True)
class _OutOfMemory:
    pass


# -- the worker process ---------------------------------------------------------------------


def _serve(channel: connection.Connection) -> None:
    """A worker's life: evaluate one request after another until told to stop."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # its own group: a kill takes the JavaScript child along
    _, core_hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (0, core_hard))  # no core file on SIGXCPU
    limit_address_space(EVALUATION_MEMORY_BYTES)
    context: TemplateContext | None = None
    token = ""
    while True:
        try:
            request = channel.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if request is None:
            return
        _allow_cpu(EVALUATION_CPU_S)
        if request.cwd is not None:
            with contextlib.suppress(OSError):
                os.chdir(request.cwd)
        reply: _Loaded | _OutOfMemory
        try:
            if context is None or request.context.token != token:
                context, token = TemplateContext.from_spec(request.context), request.context.token
            result = load_one(Path(request.file), request.display, context, request.data)
            reply = _Loaded(result, context.secrets.values)
        except MemoryError:
            reply = _OutOfMemory()
        channel.send(reply)


def _allow_cpu(seconds: int) -> None:
    """Let this process use ``seconds`` more CPU time from now (``RLIMIT_CPU`` counts all)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# -- the parent's side ------------------------------------------------------------------------


class _Worker:
    def __init__(self, process: Any, channel: connection.Connection) -> None:
        self.process = process
        self.channel = channel

    def kill(self) -> None:
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self.channel.close()
        self.process.join(1.0)  # a killed process ends at once; never wait for more

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.channel.send(None)
        self.channel.close()


class WorkerPool:
    """Worker processes, each evaluating one file at a time (see the module)."""

    def __init__(self, idle: int = IDLE_WORKERS) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([__name__])
        self._idle_max = idle
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._warming: threading.Thread | None = None

    def warm(self) -> None:
        """Start a worker in the background, so the first load finds one ready."""
        with self._lock:
            if self._warming is not None or self._idle:
                return
            self._warming = threading.Thread(
                target=self._warm_up, name="sinks-evaluate-warm", daemon=True
            )
            self._warming.start()

    def _warm_up(self) -> None:
        with contextlib.suppress(Exception):  # a load that needs a worker tries again
            self._checkin(self._start())

    def evaluate(
        self, request: _Request, secrets: SecretBook, cancel: threading.Event | None
    ) -> FileResult:
        worker = self._checkout()
        try:
            worker.channel.send(request)
        except (OSError, ValueError):  # it died while idle: one more try with a new one
            worker.kill()
            worker = self._start()
            worker.channel.send(request)
        reply = self._await(worker, request.display, cancel)
        if isinstance(reply, FileResult):
            return reply
        for value in reply.secrets:
            secrets.add(value)
        return reply.result

    def _await(
        self, worker: _Worker, display: str, cancel: threading.Event | None
    ) -> FileResult | _Loaded:
        deadline_s = EVALUATION_DEADLINE_S
        deadline = time.monotonic() + deadline_s
        watched = [worker.channel, worker.process.sentinel]
        while True:
            if cancel is not None and cancel.is_set():
                worker.kill()
                return _problem(display, "rendering cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                worker.kill()
                return _problem(display, time_message(deadline_s))
            ready = connection.wait(watched, min(POLL_S, left))
            if worker.channel in ready or (ready and worker.channel.poll()):
                try:
                    reply = worker.channel.recv()
                except (EOFError, OSError):
                    break
                self._checkin(worker)
                if isinstance(reply, _OutOfMemory):
                    return _problem(display, memory_message(EVALUATION_MEMORY_BYTES))
                assert isinstance(reply, _Loaded)
                return reply
            if ready:
                break
        worker.kill()  # it died (or stopped replying) without a result
        if worker.process.exitcode == -signal.SIGXCPU:
            return _problem(display, time_message(deadline_s))
        return _problem(
            display,
            f"evaluating this file ended its worker process (exit code {worker.process.exitcode})",
        )

    def _checkout(self) -> _Worker:
        warming = self._warming
        if warming is not None:
            warming.join()  # it is starting the worker this load can use
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.kill()
        return self._start()

    def _checkin(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < self._idle_max:
                self._idle.append(worker)
                return
        worker.stop()

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(theirs,), name="sinks-evaluate", daemon=True
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)


def _working_directory() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # it was removed
        return None


def _problem(display: str, message: str) -> FileResult:
    return FileResult(display, (), (Diagnostic(Location(display), message),))


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def warm_workers() -> None:
    """Have a worker ready by the time the first file is loaded (see ``WorkerPool.warm``)."""
    _shared_pool().warm()


def _shared_pool() -> WorkerPool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WorkerPool()
        return _POOL
