"""A local sandbox: a real Kafka broker and the KurrentDB-protocol stand-in, in the background.

The stand-in is a test/sandbox server that speaks enough of KurrentDB's gRPC protocol
for esdbclient; it is not a database. Both run detached from the command that started
them, so ``sinks run`` can be pointed at them; ``stop`` ends them and keeps their data.

Guarantees:

* ``start_sandbox`` returns only when the broker serves every listener and the stand-in
  has announced its address; a failure stops whatever had started.
* The state file (``sandbox.json`` in the sandbox folder) records pids and addresses;
  ``stop_sandbox`` signals a pid only if its command line still names this sandbox's
  service, so a pid reused by an unrelated process is never killed.
"""

from __future__ import annotations

import enum
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.specification.constants import SANDBOX_KAFKA_PORT, SANDBOX_KURRENTDB_PORT
from engine.specification.errors import EngineError
from engine.testbed.kafka import BrokerPorts, KafkaBroker, Listener
from engine.testbed.kafka.jars import cache_root

STATE_FILE = "sandbox.json"
STANDIN_MODULE = "engine.testbed.standin"
_URL = re.compile(r"esdb://\S+")


class SandboxError(EngineError):
    """The sandbox could not be started or is in an unexpected state."""


class Service(enum.Enum):
    KAFKA = "kafka"
    STANDIN = "kurrentdb-standin"


@dataclass(frozen=True)
class SandboxState:
    directory: str
    kafka_pid: int
    kafka_bootstraps: dict[str, str]
    kafka_users: dict[str, list[str]]
    ca_file: str
    standin_pid: int
    kurrentdb_url: str
    started_at: float

    @classmethod
    def load(cls, directory: Path) -> SandboxState | None:
        path = directory / STATE_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        path = Path(self.directory) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    def alive(self) -> dict[Service, bool]:
        return {
            Service.KAFKA: _is_ours(self.kafka_pid, "kafka.Kafka", self.directory),
            Service.STANDIN: _is_ours(self.standin_pid, STANDIN_MODULE, self.directory),
        }


def default_directory() -> Path:
    return cache_root() / "sandbox"


def _is_ours(pid: int, *needles: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return all(needle in cmdline for needle in needles)


def _port_free(port: int) -> bool:
    if port == 0:
        return True
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_sandbox(
    directory: Path,
    *,
    kafka_port: int = SANDBOX_KAFKA_PORT,
    kurrentdb_port: int = SANDBOX_KURRENTDB_PORT,
    timeout: float = 120.0,
) -> SandboxState:
    directory = directory.resolve()
    previous = SandboxState.load(directory)
    if previous is not None and any(previous.alive().values()):
        raise SandboxError(
            f"a sandbox is already running in {directory}; stop it with "
            f"`sinks sandbox stop --dir {directory}`"
        )
    ports = BrokerPorts.from_base(kafka_port) if kafka_port else BrokerPorts.free()
    wanted = [ports.port(listener) for listener in Listener] + [kurrentdb_port]
    for port in wanted:
        if not _port_free(port):
            raise SandboxError(
                f"port {port} on 127.0.0.1 is in use; choose others with --kafka-port / "
                "--kurrentdb-port (0 picks free ports)"
            )
    directory.mkdir(parents=True, exist_ok=True)
    standin_pid, url = _start_standin(directory, kurrentdb_port, timeout)
    try:
        # the sandbox keeps its own CA so the folder holds everything a client needs
        broker = KafkaBroker(
            directory / "kafka",
            ports=ports,
            detached=True,
            quiet=True,
            tls_dir=directory / "kafka" / "tls",
        )
        broker.start(timeout=timeout)
    except BaseException:
        _stop_pid(standin_pid, STANDIN_MODULE, str(directory), timeout=10)
        raise
    assert broker.pid is not None
    state = SandboxState(
        directory=str(directory),
        kafka_pid=broker.pid,
        kafka_bootstraps=broker.bootstraps,
        kafka_users={mech: list(pair) for mech, pair in broker.users.items()},
        ca_file=str(broker.ca_file),
        standin_pid=standin_pid,
        kurrentdb_url=url,
        started_at=time.time(),
    )
    state.save()
    return state


def _start_standin(directory: Path, port: int, timeout: float) -> tuple[int, str]:
    log_path = directory / "kurrentdb-standin.log"
    data_dir = directory / "kurrentdb-standin"
    data_dir.mkdir(exist_ok=True)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                STANDIN_MODULE,
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives the `sinks sandbox start` command
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, "rb") as log:
            log.seek(offset)
            match = _URL.search(log.read().decode(errors="replace"))
        if match:
            return process.pid, match.group(0)
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SandboxError(
                f"the KurrentDB-protocol stand-in exited with code {process.returncode}:\n{tail}"
            )
        time.sleep(0.1)
    process.kill()
    raise SandboxError(f"the KurrentDB-protocol stand-in printed no address; see {log_path}")


def _stop_pid(pid: int, *needles: str, timeout: float) -> bool:
    """SIGTERM, wait, then SIGKILL; True if the process had been running."""
    if not _is_ours(pid, *needles):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_ours(pid, *needles) or _is_zombie(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def stop_sandbox(directory: Path, timeout: float = 60.0) -> dict[Service, bool]:
    """Stop both services; returns which of them were running."""
    directory = directory.resolve()
    state = SandboxState.load(directory)
    if state is None:
        raise SandboxError(f"no sandbox state in {directory} (was it started there?)")
    stopped = {
        Service.STANDIN: _stop_pid(
            state.standin_pid, STANDIN_MODULE, state.directory, timeout=timeout
        ),
        Service.KAFKA: _stop_pid(state.kafka_pid, "kafka.Kafka", state.directory, timeout=timeout),
    }
    (directory / STATE_FILE).unlink(missing_ok=True)
    return stopped


def has_data(directory: Path) -> bool:
    """True when ``directory`` holds a sandbox's data (kept by ``stop``)."""
    return (directory / "kafka").is_dir() or (directory / "kurrentdb-standin").is_dir()


def describe(state: SandboxState) -> list[str]:
    """Human-readable addresses and credentials of a running sandbox."""
    lines = [
        f"KurrentDB-protocol stand-in (test server, not a database): {state.kurrentdb_url}",
    ]
    for listener, address in state.kafka_bootstraps.items():
        lines.append(f"Kafka {listener + ':':<16} {address}")
    for mechanism, (user, password) in state.kafka_users.items():
        lines.append(f"Kafka SASL user {mechanism + ':':<15} {user} / {password}")
    lines.append(f"Kafka CA file (SASL_SSL):        {state.ca_file}")
    return lines
