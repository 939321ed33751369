"""Loading changed sink files each on its own, so one slow template holds up no other.

The config source hands every changed file of a poll to a ``RenderPool`` as a
``RenderJob`` (render, parse, normalise, validate: ``load_one``). The pool runs them
on a few daemon threads and the poll waits for them only so long.

Guarantees:

* Jobs are independent: a slow template occupies one worker while the others go
  on loading the remaining files. (The work is Python code, so the GIL interleaves
  the threads rather than running them in parallel: a slow render slows the others
  down but never blocks them.)
* ``wait`` returns once every given job is done, the timeout has passed or the pool
  is closed, whichever comes first.
* ``settle`` takes a finished job's result; for one still running it marks the job
  *detached* instead, and when a detached job finishes the pool calls ``on_ready``
  with its path, once (the engine posts a reload request, which picks the result
  up). Marking and finishing hold one lock, so no result slips between the two.
* ``cancel`` (a file changed again, or went away) and ``close`` stop a job: one not
  started never starts; one in progress stops with "rendering cancelled" (a load in
  a worker process of ``engine.config.isolation``: the worker is killed; one on this
  process's thread: at its next sandbox check, see ``engine.config.jinja_env``), and
  its result is dropped, with no ``on_ready``. Nobody
  waits for that: the threads are daemons, so neither a poll nor a shutdown nor the
  process's exit waits for a render in progress. A job past its template (parsing,
  validating) finishes that step, which the size limits keep short, then ends.
* With ``workers=0`` a job runs at once on the submitting thread (the one-shot
  commands load this way).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.config.jinja_env import cancel_renders_on
from engine.config.sinkfile import FileResult
from engine.specification.model import Diagnostic, Location


@dataclass(eq=False)
class RenderJob:
    """One file's load: ``digest`` is the content it loads (bytes and shared inputs)."""

    path: str
    digest: str
    load: Callable[[], FileResult]
    cancelled: threading.Event = field(default_factory=threading.Event)
    result: FileResult | None = None
    detached: bool = False  # the poll stopped waiting: report it when it finishes

    @property
    def done(self) -> bool:
        return self.result is not None


class RenderPool:
    def __init__(self, workers: int, on_ready: Callable[[str], None] | None = None) -> None:
        self._workers = workers
        self._on_ready = on_ready
        self._queue: queue.SimpleQueue[RenderJob | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._done = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, job: RenderJob) -> None:
        if self._closed:
            job.cancelled.set()
        elif self._workers <= 0:
            self._run(job)
        else:
            if len(self._threads) < self._workers:
                self._start_worker()
            self._queue.put(job)

    def wait(self, jobs: Iterable[RenderJob], timeout: float | None) -> None:
        """Until every job in ``jobs`` is done, ``timeout`` seconds passed, or ``close``."""
        waiting = [j for j in jobs if not j.cancelled.is_set()]
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while not self._closed and not all(j.done for j in waiting):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                self._done.wait(left)

    def settle(self, job: RenderJob) -> FileResult | None:
        """The job's result if it is done; else None, and ``on_ready`` when it is.

        A cancelled job has no result to give, done or not.
        """
        with self._done:
            if job.cancelled.is_set():
                return None
            if job.result is None:
                job.detached = True
            return job.result

    def cancel(self, job: RenderJob) -> None:
        job.cancelled.set()

    def close(self, jobs: Iterable[RenderJob] = ()) -> None:
        """Cancel ``jobs`` and let the workers end; returns at once (see the module)."""
        for job in jobs:
            job.cancelled.set()
        with self._done:
            self._closed = True
            self._done.notify_all()
        for _ in self._threads:
            self._queue.put(None)

    def _start_worker(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"sinks-render-{len(self._threads) + 1}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if not job.cancelled.is_set():
                self._run(job)

    def _run(self, job: RenderJob) -> None:
        try:
            with cancel_renders_on(job.cancelled):
                result = job.load()
        except Exception as exc:  # load_one never raises; a job must end all the same
            failure = Diagnostic(Location(job.path), f"internal error while loading: {exc!r}")
            result = FileResult(job.path, (), (failure,))
        with self._done:
            job.result = result
            self._done.notify_all()
            tell = job.detached and not job.cancelled.is_set() and not self._closed
        if tell and self._on_ready is not None:
            self._on_ready(job.path)
