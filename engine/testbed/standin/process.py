"""The stand-in in its own process (``python -m engine.testbed.standin``).

Test and sandbox support only. The child prints one line,
``kurrentdb-standin listening on esdb://HOST:PORT?Tls=false``, once it serves, and keeps
its events in an append-only journal in ``--data-dir`` so a restart (even after SIGKILL)
serves the same log on the same port.

Control channel of the child (documented in ``__main__``): the line ``drop`` on its stdin
ends every subscription with UNAVAILABLE and is answered with ``ok``; SIGUSR1 does the
same; SIGTERM/SIGINT stop it. :class:`StandInProcess` refuses connections by stopping the
process and starting it again on the same port (see its ``refuse_connections``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from engine.testbed.standin.address import LoopbackAddress

READY_PREFIX = "kurrentdb-standin listening on "


class StandInProcess(LoopbackAddress):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Path | None = None,
        startup_timeout: float = 30.0,
        transport: str = "h2",
    ) -> None:
        self.host = host
        self.transport = transport
        self._port = port
        self._owned_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="kurrentdb-standin-")) if data_dir is None else data_dir
        )
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.RLock()
        self._restart_timer: threading.Timer | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("the stand-in process is not running")
        return self._proc.pid

    def start(self) -> None:
        if self._proc is not None:
            return
        command = [
            sys.executable, "-m", "engine.testbed.standin",
            "--host", self.host, "--port", str(self._port),
            "--data-dir", str(self.data_dir), "--exit-on-stdin-eof",
            "--transport", self.transport,
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        line = self._read_line(proc, self._startup_timeout)
        if not line.startswith(READY_PREFIX):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"the stand-in process did not start: {line!r}")
        self._port = int(line.rsplit(":", 1)[1].split("?", 1)[0])
        self._proc = proc

    def stop(self, hard: bool = False) -> None:
        timer, self._restart_timer = self._restart_timer, None
        if timer is not None:
            timer.cancel()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def restart(self, hard: bool = False) -> None:
        self.stop(hard=hard)
        self.start()

    def close(self) -> None:
        self.stop()
        if self._owned_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> StandInProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- fault hooks -----------------------------------------------------------------------
    def drop_subscriptions(self) -> None:
        self._command("drop")

    def refuse_connections(self, seconds: float) -> None:
        """Stop the process now (SIGTERM) and start it again on the same port later.

        Nothing listens on the port meanwhile, so connecting is refused; the journal keeps
        the events. Returns at once; :meth:`wait_serving` waits for the restart.
        """
        with self._lock:
            self.stop()
            timer = threading.Timer(seconds, self._start_again)
            timer.daemon = True
            self._restart_timer = timer
            timer.start()

    def _start_again(self) -> None:
        with self._lock:
            self._restart_timer = None
            self.start()

    def wait_serving(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._restart_timer is None:
                return True
            time.sleep(0.02)
        return False

    def _command(self, text: str) -> None:
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None:
                raise RuntimeError("the stand-in process is not running")
            proc.stdin.write(text + "\n")
            proc.stdin.flush()
            answer = self._read_line(proc, 30.0)
            if answer != "ok":
                raise RuntimeError(f"stand-in control {text!r} failed: {answer!r}")

    @staticmethod
    def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
        assert proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        if not result:
            raise TimeoutError(f"no answer from the stand-in process {proc.pid} in {timeout}s")
        return result[0].strip()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
