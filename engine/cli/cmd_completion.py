"""``sinks completion SHELL``: a shell completion script generated from the parser.

The script is written by ``shtab`` from the same ``argparse`` parser the command
uses, so every command, flag and choice is completed and none is listed by hand;
every ``--dir`` completes folder names.
Install it with, e.g., ``sinks completion bash > /etc/bash_completion.d/sinks`` or
``sinks completion zsh > "${fpath[1]}/_sinks"``.
"""

from __future__ import annotations

import argparse

from engine.specification.exitcodes import ExitCode

SHELLS = ("bash", "zsh", "tcsh")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, tcsh)",
        description="Print a completion script for SHELL, generated from this command's "
        "own argument parser. bash: `source <(sinks completion bash)`; zsh: write it to a "
        "file named _sinks in a folder of $fpath.",
    )
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="one of: " + ", ".join(SHELLS))
    p.set_defaults(handler=run)


def script(shell: str) -> str:
    import shtab

    from engine.cli.main import build_parser

    parser = build_parser()
    for action in _actions(parser):
        if "--dir" in action.option_strings:  # every --dir of every command is a folder
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell=shell))


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of ``parser`` and of its sub-parsers, depth first."""
    found: list[argparse.Action] = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.extend(_actions(child))
    return found


def run(args: argparse.Namespace) -> int:
    print(script(args.shell))
    return ExitCode.OK
