"""``sinks diff``: what would change, between two environments or against a git ref.

* ``sinks diff --env dev --env prod`` - the same folder rendered for two environments.
* ``sinks diff --against main [--env prod]`` - the folder as committed at a git ref
  (extracted with ``git archive`` into a temporary folder) against the working copy.

Exit 0 when there is no difference, 4 when there are, 1 when either side has
configuration errors, 2 for usage errors (unknown ref, not a git repository).
Output is masked; secrets compare by value but never print.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.cli.cmd_validate import add_source_options, default_env, load, print_diagnostics
from engine.specification.exitcodes import ExitCode
from engine.specification.model import Diagnostic


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="differences between two environments, or against a git ref (exit 4 if any)",
        description="Compare canonical sink settings: --env A --env B, or --against REF.",
    )
    add_source_options(parser, many_envs=True)
    parser.add_argument("--against", metavar="GIT_REF", help="compare with the folder at a ref")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def _merged(sides: Sequence[tuple[str | None, Sequence[Diagnostic]]]) -> list[Diagnostic]:
    """Each diagnostic once, naming the environments it was found in."""
    found: dict[Diagnostic, list[str]] = {}
    for env, diagnostics in sides:
        for diagnostic in diagnostics:
            envs = found.setdefault(diagnostic, [])
            if env is not None and env not in envs:
                envs.append(env)
    return [
        replace(d, message=f"{d.message} (env {', '.join(envs)})") if envs else d
        for d, envs in found.items()
    ]


def run(args: argparse.Namespace) -> int:
    from engine.config.diff import diff_definitions, format_text, to_json
    from engine.config.gitref import GitRefError, export_at_ref, relabel
    from engine.config.loader import masked_settings
    from engine.config.templating import SecretBook

    envs: list[str] = list(args.env or [])
    if args.against:
        if len(envs) > 1:
            print("sinks: error: --against takes at most one --env", file=sys.stderr)
            return ExitCode.USAGE
        env = envs[0] if envs else default_env()
        after = load(args, env)
        with tempfile.TemporaryDirectory(prefix="sinks-diff-") as tmp:
            try:
                exported = export_at_ref(Path(args.dir), args.against, Path(tmp))
            except GitRefError as exc:
                print(f"sinks: error: {exc}", file=sys.stderr)
                return ExitCode.USAGE
            if exported is None:
                before_defs: list[Any] = []
                before_diags: list[Diagnostic] = []
                before_secrets = SecretBook()
            else:
                old_args = argparse.Namespace(**{**vars(args), "dir": str(exported)})
                before = load(old_args, env)
                before_defs, before_diags = relabel(
                    before.definitions,
                    before.diagnostics,
                    str(exported),
                    f"{args.against}:{os.path.normpath(args.dir)}",
                )
                before_secrets = before.secrets
        before_env = after_env = env
        before_label = f"{args.against}:{args.dir}" + (f" (env {env})" if env else "")
        after_label = f"{args.dir}" + (f" (env {env})" if env else "")
    else:
        if len(envs) != 2:
            print(
                "sinks: error: give --env twice (--env A --env B) or --against GIT_REF",
                file=sys.stderr,
            )
            return ExitCode.USAGE
        before = load(args, envs[0])
        after = load(args, envs[1])
        before_defs, before_diags = list(before.definitions), list(before.diagnostics)
        before_secrets = before.secrets
        before_env, after_env = envs
        before_label = f"{args.dir} (env {envs[0]})"
        after_label = f"{args.dir} (env {envs[1]})"

    book = SecretBook()
    for value in before_secrets.values | after.secrets.values:
        book.add(value)
    sides = [(before_env, before_diags), (after_env, after.diagnostics)]
    problems = [book.mask_diagnostic(d) for d in _merged(sides)]
    print_diagnostics(problems)
    if any(d.severity.value == "error" for d in problems):
        return ExitCode.CONFIG
    difference = diff_definitions(
        before_defs, after.definitions, mask=lambda s: masked_settings(s, book)
    )
    if args.format == "json":
        text = json.dumps(to_json(difference, before_label, after_label), indent=2) + "\n"
    else:
        text = format_text(difference, before_label, after_label)
    sys.stdout.write(book.mask_text(text))
    return ExitCode.OK if difference.empty else ExitCode.DIFFERENCES
