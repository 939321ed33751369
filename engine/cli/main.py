"""The ``sinks`` command: argument parsing and the one place errors become exit codes.

Exit codes are ``engine.specification.exitcodes.ExitCode`` (the README's table lists them): a
``TemporaryError`` reaching this module (KurrentDB or Kafka unreachable) exits
``TEMPORARY``, any other ``EngineError`` ``CONFIG``, an environment that cannot run
sinks (``engine.cli.preflight``) ``INTERNAL`` in one line, an unexpected error
``INTERNAL`` with the traceback written to a log file whose path is printed.

Each sub-command lives in ``engine.cli.cmd_<name>`` and exposes
``register(subparsers)`` and ``run(args) -> int``. Importing this module must not
import confluent_kafka or esdbclient: commands import what they need when they run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import traceback
from collections.abc import Sequence
from types import ModuleType

from engine.cli.preflight import BrokenEnvironment
from engine.specification.errors import ConfigError, EngineError, TemporaryError
from engine.specification.exitcodes import ExitCode

COMMANDS: tuple[str, ...] = (
    "render",
    "validate",
    "diff",
    "schema",
    "test",
    "run",
    "status",
    "reset",
    "sandbox",
    "demo",
    "explain",
    "top",
    "tap",
    "completion",
)


def _command_modules() -> list[ModuleType]:
    modules = []
    for name in COMMANDS:
        try:
            modules.append(importlib.import_module(f"engine.cli.cmd_{name}"))
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name != f"engine.cli.cmd_{name}":
                raise
    return modules


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kafka-sinks-engine")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sinks",
        description="Declarative KurrentDB → Apache Kafka sinks: validate, render, diff and run "
        "the sink definitions kept in sinks.d/.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse exits 0 for --help, 2 for usage errors
        return int(exc.code or 0)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic.format(), file=sys.stderr)
        return ExitCode.CONFIG
    except TemporaryError as exc:
        print(f"sinks: error: {exc} (temporary: try again later)", file=sys.stderr)
        return ExitCode.TEMPORARY
    except EngineError as exc:
        print(f"sinks: error: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except BrokenEnvironment as exc:
        print(f"sinks: error: {exc}", file=sys.stderr)
        return ExitCode.INTERNAL
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`sinks render | head`): not an error of ours. Point
        # stdout at devnull so the interpreter's final flush does not complain.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception:  # the one place an unexpected error becomes an exit code
        with tempfile.NamedTemporaryFile(
            "w", prefix="sinks-crash-", suffix=".log", delete=False
        ) as log:
            traceback.print_exc(file=log)
        print(f"sinks: internal error; details in {log.name}", file=sys.stderr)
        return ExitCode.INTERNAL


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
