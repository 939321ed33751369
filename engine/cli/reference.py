"""The README's list of every command and flag, written from the parser itself.

``usage_lines()`` gives one usage line per command (sub-commands of ``sandbox``
included), formatted at a fixed width so the text does not depend on the terminal.
``python -m engine.cli.reference --write README.md`` replaces the block between the
two markers in the README; a test fails when the block and the parser disagree, so
the README's list cannot fall behind a new flag.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.specification.exitcodes import ExitCode

START = "<!-- commands:start -->"
END = "<!-- commands:end -->"
WIDTH = 100


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(prog=parser.prog, width=WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, "")
    return formatter.format_help().strip()


def _walk(parser: argparse.ArgumentParser) -> list[str]:
    lines = [_usage(parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                lines.extend(_walk(child))
    return lines


def usage_lines() -> list[str]:
    from engine.cli.main import build_parser

    return _walk(build_parser())


def block() -> str:
    """The README block, markers included."""
    body = "\n".join(usage_lines())
    return f"{START}\n```text\n{body}\n```\n{END}"


def rewrite(text: str) -> str:
    """``text`` with its commands block replaced by the current one."""
    head, found, rest = text.partition(START)
    if not found or END not in rest:
        raise ValueError(f"no {START} … {END} block")
    return head + block() + rest.split(END, 1)[1]


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write":
        path = Path(argv[1])
        path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
        return ExitCode.OK
    print(block())
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
