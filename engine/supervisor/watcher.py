"""Turns file changes and SIGHUP into reload requests.

``Watcher`` runs ``watchfiles.watch`` over the sink folder (recursively, so the
``_values``/``_templates`` folders inside it are covered) and any extra folders
(values or templates kept elsewhere) in a daemon thread. Changes are debounced:
a burst of writes (an editor's save, a ``git checkout``) becomes one request.
Hidden files (editor swap files, the temporary file of an atomic save), backups
and ``*.test.yaml`` config tests are ignored, as the loader ignores them.

Requests go to one ``ReloadQueue``; the engine's main loop takes them and reloads
on its own thread, so a reload never runs concurrently with another or inside a
signal handler. ``install_sighup`` makes SIGHUP post a request too.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from types import FrameType

from watchfiles import Change, DefaultFilter, watch

from engine.specification.constants import TEST_SUFFIXES


class ReloadQueue:
    """A latch of pending requests: many posts before a take count once."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._reasons: list[str] = []
        self._stopping = False

    def post(self, reason: str) -> None:
        with self._cond:
            self._reasons.append(reason)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def take(self, timeout: float | None = None) -> list[str]:
        """Wait for requests; return their reasons ([] on timeout or when stopping)."""
        with self._cond:
            self._cond.wait_for(lambda: self._reasons or self._stopping, timeout)
            reasons, self._reasons = self._reasons, []
            return reasons


# Editors' temporary and backup files: emacs (#x#), vim (x.swp, x~, and "4913", its
# probe of whether the folder is writable), JetBrains' safe write, Kate, merge tools.
_IGNORED_STARTS = (".", "#")
_IGNORED_ENDS = (
    *TEST_SUFFIXES,
    *(".tmp", "~", ".swp", ".swx", ".swo", ".bak", ".orig"),
    *(".kate-swp", "___jb_tmp___", "___jb_old___"),
)


class _SinkFilter(DefaultFilter):
    def __call__(self, change: Change, path: str) -> bool:
        name = Path(path).name
        # hidden files (editor swap files, the temp file of an atomic save) are skipped
        # by the loader too; reacting to them would only queue a useless reload
        if name.startswith(_IGNORED_STARTS) or name.endswith(_IGNORED_ENDS) or name.isdigit():
            return False
        return super().__call__(change, path)


class Watcher:
    def __init__(
        self,
        paths: Iterable[str | Path],
        queue: ReloadQueue,
        *,
        debounce_ms: int = 150,
        step_ms: int = 30,
        force_polling: bool | None = None,
    ) -> None:
        self._paths = [Path(p) for p in paths]
        self._queue = queue
        self._debounce = debounce_ms
        self._step = step_ms
        self._force_polling = force_polling
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sinks-watcher", daemon=True)
        self._thread.start()
        self.ready.wait(timeout=5)

    def _run(self) -> None:
        paths = [p for p in self._paths if p.exists()]
        if not paths:
            self.ready.set()
            return
        watcher = watch(
            *paths,
            watch_filter=_SinkFilter(),
            debounce=self._debounce,
            step=self._step,
            stop_event=self._stop,
            yield_on_timeout=True,
            rust_timeout=200,
            raise_interrupt=False,
            force_polling=self._force_polling,
        )
        for changes in watcher:
            # the first (timeout) yield tells us the notifier is armed
            self.ready.set()
            if changes:
                names = sorted({Path(p).name for _, p in changes})
                self._queue.post("files changed: " + ", ".join(names[:5]))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def install_sighup(queue: ReloadQueue) -> None:
    """SIGHUP → a reload request (main thread only; a no-op where SIGHUP does not exist)."""
    if not hasattr(signal, "SIGHUP"):
        return

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        queue.post("SIGHUP")

    signal.signal(signal.SIGHUP, on_hup)
