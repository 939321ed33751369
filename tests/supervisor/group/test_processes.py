from __future__ import annotations

import signal

from engine.cli.cmd_run import child_command
from engine.cli.main import build_parser
from engine.specification.exitcodes import ExitCode
from engine.supervisor.group.processes import _worst, child_addresses


def test_children_listen_next_to_the_parent_or_not_at_all() -> None:
    assert child_addresses("127.0.0.1:7781", 3) == [
        "127.0.0.1:7782",
        "127.0.0.1:7783",
        "127.0.0.1:7784",
    ]
    assert child_addresses(None, 2) == [None, None]
    free = child_addresses("127.0.0.1:0", 2)
    assert all(a is not None and a.startswith("127.0.0.1:") and not a.endswith(":0") for a in free)


def test_the_parent_exits_with_the_most_serious_child_code() -> None:
    assert _worst([0, 0]) == ExitCode.OK
    assert _worst([0, -signal.SIGTERM]) == ExitCode.OK  # stopped before it ran anything
    assert _worst([1, ExitCode.STUCK]) == ExitCode.STUCK
    assert _worst([0, -signal.SIGKILL]) == ExitCode.INTERNAL
    assert _worst([ExitCode.CONFIG, ExitCode.TEMPORARY]) == ExitCode.TEMPORARY


def test_a_child_gets_the_same_flags_its_own_address_and_no_password_in_argv() -> None:
    args = build_parser().parse_args(
        [
            "run",
            "--dir",
            "d",
            "--env",
            "prod",
            "--set",
            "a=1",
            "--group",
            "g",
            "--group-bootstrap",
            "k:9092",
            "--group-password",
            "s3cret",
            "--processes",
            "3",
        ]
    )
    command = child_command(args, "127.0.0.1:7782")
    assert command[command.index("--status-addr") + 1] == "127.0.0.1:7782"
    assert command[command.index("--processes") + 1] == "1"
    assert command[command.index("--group") + 1] == "g"
    assert command[command.index("--env") + 1] == "prod"
    assert command[command.index("--set") + 1] == "a=1"
    assert "s3cret" not in command


def test_every_run_flag_but_the_child_s_own_reaches_the_child() -> None:
    given = {
        "--env": "prod",
        "--dir": "d",
        "--set": "a=1",
        "--status-addr": "127.0.0.1:7781",
        "--kurrentdb": "esdb://k:2113?Tls=false",
        "--kurrentdb-client": "kurrentdbclient",
        "--log-format": "json",
        "--shutdown-timeout": "7.5",
        "--engine-id": "e1",
        "--group": "g",
        "--group-bootstrap": "k:9092",
        "--group-security-protocol": "SaslSsl",
        "--group-sasl-mechanism": "ScramSha256",
        "--group-username": "u",
        "--group-password": "s3cret",
        "--group-ca-file": "/ca.pem",
        "--group-session-timeout-ms": "5000",
        "--processes": "3",
        "--status-token": "t0ken",
    }
    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    flags = {a.option_strings[-1] for a in run._actions if a.dest != "help"}
    assert flags == set(given), "a new `sinks run` flag: give it a value here"
    args = parser.parse_args(["run", *(word for pair in given.items() for word in pair)])
    command = child_command(args, "127.0.0.1:7782")
    own = {"--status-addr": "127.0.0.1:7782", "--processes": "1"}
    for flag, value in given.items():
        if flag in ("--group-password", "--status-token"):
            assert flag not in command and value not in command
        else:
            assert command[command.index(flag) + 1] == own.get(flag, value)
