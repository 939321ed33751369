"""``sinks test``: run the config tests (``*.test.yaml``) against the sinks, no servers.

Loads ``--dir`` for ``--env`` like ``validate`` does, runs every case through the
sink's real mapping (filters, JSONPath, transformer, key, headers, value), prints
one compiler-style line per mismatch and a summary ``N passed, M failed`` (plus
``, K configuration errors`` when files did not load).
Exit 0 when every case passes and the configuration loads cleanly, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli import preflight
from engine.cli.cmd_validate import add_source_options, default_env, load, print_diagnostics
from engine.specification.exitcodes import ExitCode
from engine.specification.model import Severity


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test",
        help="run the config tests (<name>.test.yaml) against the sinks, without servers",
        description="Run sample events from <dir>/**/<name>.test.yaml through each sink's "
        "filters, transformer, partition key and headers and compare with the expected "
        "Kafka messages. Exit 0 when all pass, 1 otherwise.",
    )
    add_source_options(parser, many_envs=False)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="list every case with its outcome"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    preflight.check()
    from engine.configtest.runner import run_tests

    loaded = load(args, args.env or default_env())
    print_diagnostics(loaded.diagnostics)
    report = run_tests(args.dir, loaded.definitions, loaded.secrets.mask_value)
    print_diagnostics(report.diagnostics())
    if args.verbose:
        for result in report.results:
            outcome = "ok" if result.passed else "FAILED"
            where = f" (to topic {result.topic})" if result.topic is not None else ""
            print(f"{result.file}: case '{result.name}': {outcome}{where}")
    if not report.results and not report.problems:
        print(f"no config tests (*.test.yaml) under {args.dir}", file=sys.stderr)
    # A file that did not load fails the run too: the summary says so, so that "all
    # passed" never comes with exit status 1 (its sinks' cases could not run).
    errors = sum(1 for d in loaded.diagnostics if d.severity is Severity.ERROR)
    summary = f"{report.passed} passed, {report.failed} failed"
    if errors:
        summary += f", {errors} configuration error{'s' if errors > 1 else ''}"
    print(summary)
    return ExitCode.OK if report.ok and loaded.ok else ExitCode.CONFIG
