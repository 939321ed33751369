"""A real Apache Kafka broker (KRaft, broker and controller in one JVM) for tests.

Guarantees:

* ``start()`` returns only when the broker has logged that it started and every
  client listener accepts TCP connections; otherwise it raises ``BrokerError``
  with the tail of the broker log.
* Storage is formatted once per work directory (with the SCRAM users); later
  starts, including after ``stop(hard=True)``, reuse the same data, ports, cluster
  id and certificate. Only on the very first start may auto-picked ports change,
  when another process took one before the JVM could bind it.
* The JVM gets SIGTERM when the thread that started it ends (Linux's parent-death
  signal) unless ``detached``, as the sandbox needs; so a crashed test run leaves no
  broker behind. Start brokers from a thread that lives as long as they should.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from engine.specification.errors import EngineError
from engine.testbed.kafka.certs import TlsMaterial, ensure_tls
from engine.testbed.kafka.config import (
    CLIENT_LISTENERS,
    HOST,
    LOG4J2_PROPERTIES,
    USERS,
    BrokerPorts,
    Listener,
    scram_format_args,
    server_properties,
)
from engine.testbed.kafka.jars import cache_root, resolve_jars

STARTED_LINE = "Kafka Server started"
BIND_FAILURE = "Address already in use"
PR_SET_PDEATHSIG = 1


class BrokerError(EngineError):
    """The broker could not be formatted, started or stopped."""


def _java() -> str:
    # The java on PATH first (the one the project is tested with), then JAVA_HOME's.
    exe = shutil.which("java")
    if exe is not None:
        return exe
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    raise BrokerError("'java' (17 or newer) is not on PATH and JAVA_HOME is not set")


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM the JVM when
    # the Python process that started it goes away.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _cluster_id() -> str:
    # Kafka wants 16 bytes in URL-safe base64. An id that starts with "-" would be read
    # as an option by the storage tool's argument parser, so draw again.
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not candidate.startswith("-"):
            return candidate


class KafkaBroker:
    """One broker in ``work_dir`` (a temporary folder, removed by ``cleanup()``, if None).

    ``ports`` fixes the four listener ports (default: free ones); ``authorizer``
    turns on ACLs (StandardAuthorizer, everything allowed where no ACL matches,
    ANONYMOUS, the PLAINTEXT and controller principal, a super user);
    ``detached`` lets the JVM outlive this process; ``tls_dir`` holds the CA and
    keystore (default: shared in the user cache).
    """

    def __init__(
        self,
        work_dir: Path | None = None,
        *,
        ports: BrokerPorts | None = None,
        authorizer: bool = False,
        heap: str = "384m",
        detached: bool = False,
        quiet: bool = False,
        tls_dir: Path | None = None,
    ) -> None:
        self._owns_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="kafka-broker-")).resolve()
        self.data_dir = self.work_dir / "data"
        self.log_file = self.work_dir / "broker.log"
        self.pid_file = self.work_dir / "broker.pid"
        self.ports = ports or BrokerPorts.free()
        # Ports picked here may be taken by someone else before the JVM binds them;
        # until the broker has run once it may move to others (see start()).
        self._may_move_ports = ports is None
        self.authorizer = authorizer
        self.heap = heap
        self.detached = detached
        self.quiet = quiet
        self._process: subprocess.Popen[bytes] | None = None
        self._tls: TlsMaterial | None = None
        self.tls_dir = tls_dir or cache_root() / "tls"
        self.start_seconds: float | None = None
        if not detached:
            atexit.register(self._at_exit)

    # -- addresses and credentials -------------------------------------------------
    def bootstrap(self, listener: str | Listener = "PLAINTEXT") -> str:
        parsed = Listener.parse(listener)
        if parsed is Listener.CONTROLLER:
            raise ValueError("the controller listener is not for clients")
        return f"{HOST}:{self.ports.port(parsed)}"

    @property
    def bootstraps(self) -> dict[str, str]:
        return {lst.value: self.bootstrap(lst) for lst in CLIENT_LISTENERS}

    @property
    def users(self) -> Mapping[str, tuple[str, str]]:
        """SASL mechanism → (username, password)."""
        return dict(USERS)

    @property
    def ca_file(self) -> Path:
        return self._tls_material().ca_file

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle -----------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        if self.running:
            return
        started = time.monotonic()
        libs = resolve_jars(quiet=self.quiet)
        for attempt in range(3):
            offset = self._launch(libs)
            try:
                self._wait_ready(offset, started + timeout)
                break
            except BrokerError:
                self.stop(hard=True)
                if not (self._may_move_ports and attempt < 2 and self._port_taken(offset)):
                    raise
                self.ports = BrokerPorts.free()
            except BaseException:
                self.stop(hard=True)
                raise
        self._may_move_ports = False
        self.start_seconds = time.monotonic() - started
        if not self.quiet:
            addresses = ", ".join(f"{k} {v}" for k, v in self.bootstraps.items())
            print(
                f"kafka testbed: broker started in {self.start_seconds:.1f}s "
                f"(pid {self.pid}): {addresses}",
                file=sys.stderr,
            )

    def _launch(self, libs: Path) -> int:
        """Write the config, format on first use, start the JVM; returns the log offset."""
        properties = self._write_config()
        if not (self.data_dir / "meta.properties").is_file():
            self._format(properties)
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        command = [
            _java(),
            f"-Xmx{self.heap}",
            "-Xms64m",
            "-Xss1m",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
            "kafka.Kafka",
            str(properties),
        ]
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                start_new_session=True,
                preexec_fn=None if self.detached else _die_with_parent,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")
        return offset

    def _port_taken(self, offset: int) -> bool:
        with open(self.log_file, "rb") as log:
            log.seek(offset)
            return BIND_FAILURE.encode() in log.read()

    def stop(self, hard: bool = False, timeout: float = 60.0) -> None:
        """Stop the JVM: SIGTERM and a controlled shutdown, or SIGKILL when ``hard``."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._process = None
        self.pid_file.unlink(missing_ok=True)

    def restart(self, hard: bool = False) -> None:
        self.stop(hard=hard)
        self.start()

    def cleanup(self) -> None:
        """Stop, and delete the work directory if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _at_exit(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self.stop(hard=True)

    # -- inspection ----------------------------------------------------------------
    def batch_codecs(self, topic: str) -> set[str]:
        """Compression codecs of the record batches stored for ``topic`` (all partitions).

        Reads the segment files with Kafka's own DumpLogSegments tool; control
        batches (transaction markers) are left out.
        """
        pattern = re.compile(rf"^{re.escape(topic)}-\d+$")
        segments = sorted(
            str(path)
            for directory in self.data_dir.iterdir()
            if directory.is_dir() and pattern.match(directory.name)
            for path in directory.glob("*.log")
        )
        if not segments:
            return set()
        result = self._run_tool("kafka.tools.DumpLogSegments", "--files", ",".join(segments))
        return parse_batch_codecs(result)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    # -- internals -----------------------------------------------------------------
    def _bind_failure_lines(self) -> str:
        # Quote the failing lines themselves: the broker keeps logging its shutdown
        # after a bind error, which pushes the cause out of any fixed-size tail.
        text = self.log_file.read_text(errors="replace")
        hits = [line.strip() for line in text.splitlines() if BIND_FAILURE in line]
        return " | ".join(dict.fromkeys(hits[:3]))

    def _tls_material(self) -> TlsMaterial:
        if self._tls is None:
            self._tls = ensure_tls(self.tls_dir)
        return self._tls

    def _write_config(self) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
        path = self.work_dir / "server.properties"
        path.write_text(
            server_properties(
                self.ports, self.data_dir, self._tls_material(), authorizer=self.authorizer
            )
        )
        return path

    def _run_tool(self, main_class: str, *args: str) -> str:
        command = [
            _java(),
            "-Xmx256m",
            # short-lived tools: the quick compiler and a simple collector start fastest
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
            "-cp",
            f"{resolve_jars(quiet=self.quiet)}/*",
            main_class,
            *args,
        ]
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise BrokerError(
                f"{main_class} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def _format(self, properties: Path) -> None:
        self._run_tool(
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            _cluster_id(),
            "--config",
            str(properties),
            *scram_format_args(),
        )

    def _wait_ready(self, offset: int, deadline: float) -> None:
        assert self._process is not None
        position, started, carry = offset, False, b""
        while time.monotonic() < deadline:
            with open(self.log_file, "rb") as log:
                log.seek(position)
                chunk = log.read()
            position += len(chunk)
            text, carry = carry + chunk, chunk[-200:]  # a marker may straddle two reads
            if BIND_FAILURE.encode() in text:
                raise BrokerError(
                    f"Kafka broker could not bind its ports {self.ports}: "
                    f"{self._bind_failure_lines()}; log {self.log_file}"
                )
            started = started or STARTED_LINE.encode() in text
            if self._process.poll() is not None:
                raise BrokerError(
                    f"Kafka broker exited with code {self._process.returncode} while starting; "
                    f"log {self.log_file}:\n{self.log_tail()}"
                )
            if started and all(_accepts(self.ports.port(lst)) for lst in CLIENT_LISTENERS):
                return
            time.sleep(0.1)
        raise BrokerError(
            f"Kafka broker not ready before the deadline; log {self.log_file}:\n{self.log_tail()}"
        )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


_CODEC = re.compile(r"\bcompresscodec: (\S+)")
_CONTROL = re.compile(r"\bisControl: true\b")


def parse_batch_codecs(dump: str) -> set[str]:
    """Codec names (lower case) of the data batches in DumpLogSegments output."""
    codecs: set[str] = set()
    for line in dump.splitlines():
        match = _CODEC.search(line)
        if match and not _CONTROL.search(line):
            codecs.add(match.group(1).lower())
    return codecs
