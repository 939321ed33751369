"""Process limits for evaluating user code, and a bounded child for what they forbid.

Guarantees:

* ``limit_address_space(n)`` lowers this process's soft ``RLIMIT_AS`` to ``n`` bytes
  (the hard limit is left as it is); from then on ``address_space_limited()`` is True
  and an allocation beyond the limit raises ``MemoryError`` in the code that asked for
  it. Code that turns a ``MemoryError`` into a diagnostic re-raises it in such a
  process, so the one that set the limit reports its bound.
* ``in_child(function, argument, deadline_s, max_rss)`` runs ``function(argument)`` in
  a forked child whose soft ``RLIMIT_AS`` is lifted back to its hard limit (V8
  reserves far more address space than it uses, and aborts under a cap), and returns
  its result (which must pickle), or a ``Stopped`` when the child ran past
  ``deadline_s`` seconds of wall clock or ``max_rss`` bytes of resident memory (read
  from ``/proc`` every ``WATCH_INTERVAL_S``), or died: the child is killed then, and
  waited for, before ``in_child`` returns. An exception in ``function`` comes back as
  ``Stopped`` with its text. Only for a single-threaded process (forking one with
  threads may copy a held lock); the evaluation worker is one.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

WATCH_INTERVAL_S = 0.02
_PAGE = os.sysconf("SC_PAGE_SIZE")
_T = TypeVar("_T")


@dataclass(frozen=True)
class Stopped:
    """Why a child gave no result: ``time``, ``memory`` or ``failed`` (with ``detail``)."""

    reason: str
    detail: str = ""


def limit_address_space(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def address_space_limited() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return soft != resource.RLIM_INFINITY


def resident_bytes(pid: int) -> int:
    """The resident memory of process ``pid`` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def in_child(
    function: Callable[[Any], _T], argument: Any, deadline_s: float, max_rss: int
) -> _T | Stopped:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(function, argument, write_end)
    os.close(write_end)
    try:
        outcome: _T | Stopped = _watch(pid, read_end, deadline_s, max_rss)
        return outcome
    finally:
        os.close(read_end)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _child(function: Callable[[Any], Any], argument: Any, out: int) -> None:
    code = 0
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        try:
            reply: Any = ("ok", function(argument))
        except Exception as exc:
            reply = ("failed", f"{type(exc).__name__}: {exc}")
        data = pickle.dumps(reply)
        with os.fdopen(out, "wb") as pipe:
            pipe.write(data)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _watch(pid: int, read_end: int, deadline_s: float, max_rss: int) -> Any:
    deadline = time.monotonic() + deadline_s
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return Stopped("time")
        ready, _, _ = select.select([read_end], [], [], min(WATCH_INTERVAL_S, left))
        if ready:
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        elif resident_bytes(pid) > max_rss:
            return Stopped("memory")
    try:
        status, value = pickle.loads(b"".join(chunks))
    except Exception:
        return Stopped("failed", "the child ended without a result")
    return value if status == "ok" else Stopped("failed", str(value))
