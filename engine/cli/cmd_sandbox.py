"""``sinks sandbox start|stop|status``: local services to try sinks against.

Starts a real Apache Kafka broker and the KurrentDB-protocol stand-in (a test/sandbox
server speaking KurrentDB's gRPC protocol, not a database) in the background and
prints their addresses. Exit codes: 0 ok; 1 the sandbox could not start, is not
running (``status``), or was not found (``stop``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from engine.specification.constants import SANDBOX_KAFKA_PORT, SANDBOX_KURRENTDB_PORT
from engine.specification.exitcodes import ExitCode


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "sandbox",
        help="start or stop a local Kafka broker and KurrentDB-protocol stand-in",
        description="Run a local Apache Kafka broker (KRaft) and the KurrentDB-protocol "
        "stand-in (a test/sandbox server, not a database) in the background.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start both services in the background")
    start.add_argument(
        "--kafka-port",
        type=int,
        default=SANDBOX_KAFKA_PORT,
        help="Kafka PLAINTEXT port; SASL_PLAINTEXT, SASL_SSL and the controller use the next "
        "three (default %(default)s; 0 picks free ports)",
    )
    start.add_argument(
        "--kurrentdb-port",
        type=int,
        default=SANDBOX_KURRENTDB_PORT,
        help="stand-in port (default %(default)s; 0 picks a free port)",
    )
    stop = actions.add_parser("stop", help="stop both services (their data is kept)")
    status = actions.add_parser("status", help="show whether the services run, and where")
    status.add_argument("--json", action="store_true", help="print the state file as JSON")
    for action in (start, stop, status):
        action.add_argument(
            "--dir",
            type=Path,
            default=None,
            help="sandbox folder for data, logs and state "
            "(default ~/.cache/kafka-sinks-engine/sandbox)",
        )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.testbed import sandbox

    directory: Path = (args.dir or sandbox.default_directory()).resolve()
    if args.action == "start":
        print(
            f"starting the sandbox in {directory} "
            "(the first start fetches the Kafka jars with Maven)...",
            flush=True,
        )
        try:
            state = sandbox.start_sandbox(
                directory, kafka_port=args.kafka_port, kurrentdb_port=args.kurrentdb_port
            )
        except sandbox.SandboxError as exc:
            print(f"sinks: error: {exc}")
            return ExitCode.CONFIG
        for line in sandbox.describe(state):
            print(line)
        print(f"stop it with: sinks sandbox stop --dir {directory}")
        return ExitCode.OK
    if args.action == "stop":
        try:
            stopped = sandbox.stop_sandbox(directory)
        except sandbox.SandboxError as exc:
            print(f"sinks: error: {exc}")
            return ExitCode.CONFIG
        for service, was_running in stopped.items():
            print(f"{service.value}: {'stopped' if was_running else 'was not running'}")
        return ExitCode.OK
    found = sandbox.SandboxState.load(directory)
    if found is None:
        if sandbox.has_data(directory):
            print(f"the sandbox in {directory} is stopped; its data is kept")
        else:
            print(f"no sandbox in {directory}")
        print(f"start it with: sinks sandbox start --dir {directory}")
        return ExitCode.CONFIG
    alive = found.alive()
    if args.json:
        print(
            json.dumps(
                {**asdict(found), "running": {s.value: up for s, up in alive.items()}}, indent=2
            )
        )
    else:
        for service, up in alive.items():
            print(f"{service.value}: {'running' if up else 'NOT running'}")
        for line in sandbox.describe(found):
            print(line)
    return ExitCode.OK if all(alive.values()) else ExitCode.CONFIG
