"""``sinks schema``: write the sink JSON Schema from the settings tables, or check it.

* ``sinks schema`` regenerates ``schema/sink.schema.json`` (or ``--output PATH``;
  ``--output -`` prints it).
* ``sinks schema --check`` writes nothing; it exits 1 with a short diff when the file
  differs from what the tables give (drift), and 0 when it matches.

Broken tables are configuration errors (exit 1) pointing at the table row.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

from engine.config.schemagen import SCHEMA_FILE_NAME, render_schema
from engine.specification.exitcodes import ExitCode
from engine.specification.tables import TABLES_DIR, display_path, load_catalogue

DIFF_LINES_SHOWN = 40


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="generate the sink JSON Schema from the settings tables (or check it)",
        description="Generate the JSON Schema (draft 2020-12) of sink files from the "
        "Markdown settings tables. Editors use it through a "
        "'# yaml-language-server: $schema=<path>' comment.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the schema file differs from the tables",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help=f"schema file to write or check (default: {SCHEMA_FILE_NAME} next to the "
        "tables); '-' writes to standard output",
    )
    parser.add_argument(
        "--tables",
        metavar="DIR",
        help="folder holding the settings tables (default: the engine's schema/ folder)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    tables = Path(args.tables) if args.tables else TABLES_DIR
    expected = render_schema(load_catalogue(tables))
    if args.output == "-":
        if args.check:
            print("sinks: error: --check needs a file, not '-'", file=sys.stderr)
            return ExitCode.USAGE
        sys.stdout.write(expected)
        return ExitCode.OK
    target = Path(args.output) if args.output else tables / SCHEMA_FILE_NAME
    shown = display_path(target)
    if args.check:
        return _check(target, shown, expected, display_path(tables))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(expected, encoding="utf-8")
    print(f"wrote {shown}")
    return ExitCode.OK


def _check(target: Path, shown: str, expected: str, tables: str) -> int:
    if not target.is_file():
        print(
            f"sinks: error: {shown} does not exist; run 'sinks schema' to write it",
            file=sys.stderr,
        )
        return ExitCode.CONFIG
    actual = target.read_text(encoding="utf-8")
    if actual == expected:
        print(f"{shown} is up to date with the settings tables in {tables}")
        return ExitCode.OK
    print(
        f"sinks: error: {shown} is out of date with the settings tables in {tables}; "
        "run 'sinks schema' to regenerate it",
        file=sys.stderr,
    )
    diff = list(
        difflib.unified_diff(
            actual.splitlines(),
            expected.splitlines(),
            fromfile=f"{shown} (committed)",
            tofile=f"{shown} (from the tables)",
            lineterm="",
        )
    )
    for line in diff[:DIFF_LINES_SHOWN]:
        print(line, file=sys.stderr)
    if len(diff) > DIFF_LINES_SHOWN:
        print(f"... {len(diff) - DIFF_LINES_SHOWN} more diff lines", file=sys.stderr)
    return ExitCode.CONFIG
