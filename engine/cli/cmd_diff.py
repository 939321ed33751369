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
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.cli.cmd_validate import add_source_options, default_env, load, print_diagnostics
from engine.model import Diagnostic, Location

EXIT_DIFFERENCES = 4


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


class _GitProblem(Exception):
    pass


def _git(args: Sequence[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120)
    except FileNotFoundError:
        raise _GitProblem("git is not installed") from None
    if done.returncode != 0:
        raise _GitProblem(done.stderr.decode(errors="replace").strip() or "git failed")
    return done.stdout


def _extract_plain_files(archive: tarfile.TarFile, into: Path) -> None:
    """Write the archive's folders and regular files under ``into``.

    Links, devices and any path that would land outside ``into`` are left out (the
    loader then reports a missing or linked file on the other side). Written by hand
    rather than with ``extractall(filter=...)``, which Python 3.11 before 3.11.4 lacks.
    """
    root = into.resolve()
    for member in archive.getmembers():
        target = (root / member.name).resolve()
        if target != root and root not in target.parents:
            continue
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            source = archive.extractfile(member)
            if source is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


def export_at_ref(directory: Path, ref: str, into: Path) -> Path | None:
    """Extract ``directory`` as committed at ``ref`` under ``into``; None if it did not exist."""
    folder = directory.resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    rel = folder.relative_to(top.resolve()).as_posix()
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    except _GitProblem:
        raise _GitProblem(f"unknown git ref '{ref}'") from None
    listed = _git(["ls-tree", "-d", "--name-only", ref, "--", rel], top).decode().strip()
    if not listed:
        return None
    data = _git(["archive", "--format=tar", ref, "--", rel], top)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        _extract_plain_files(archive, into)
    return into / rel


def _relabel(result: Any, old_prefix: str, new_prefix: str) -> tuple[Any, list[Diagnostic]]:
    """Show paths of the exported copy as ``REF:dir/file`` instead of the temp folder."""

    def fix(path: str) -> str:
        return new_prefix + path[len(old_prefix) :] if path.startswith(old_prefix) else path

    diagnostics = [
        replace(d, location=Location(fix(d.location.path), d.location.line, d.location.column))
        if d.location
        else d
        for d in result.diagnostics
    ]
    definitions = [replace(s, source_file=fix(s.source_file)) for s in result.definitions]
    return definitions, diagnostics


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
    from engine.config.loader import masked_settings
    from engine.config.templating import SecretBook

    envs: list[str] = list(args.env or [])
    if args.against:
        if len(envs) > 1:
            print("sinks: error: --against takes at most one --env", file=sys.stderr)
            return 2
        env = envs[0] if envs else default_env()
        after = load(args, env)
        with tempfile.TemporaryDirectory(prefix="sinks-diff-") as tmp:
            try:
                exported = export_at_ref(Path(args.dir), args.against, Path(tmp))
            except _GitProblem as exc:
                print(f"sinks: error: {exc}", file=sys.stderr)
                return 2
            if exported is None:
                before_defs: list[Any] = []
                before_diags: list[Diagnostic] = []
                before_secrets = SecretBook()
            else:
                old_args = argparse.Namespace(**{**vars(args), "dir": str(exported)})
                before = load(old_args, env)
                before_defs, before_diags = _relabel(
                    before, str(exported), f"{args.against}:{os.path.normpath(args.dir)}"
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
            return 2
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
        return 1
    difference = diff_definitions(
        before_defs, after.definitions, mask=lambda s: masked_settings(s, book)
    )
    if args.format == "json":
        text = json.dumps(to_json(difference, before_label, after_label), indent=2) + "\n"
    else:
        text = format_text(difference, before_label, after_label)
    sys.stdout.write(book.mask_text(text))
    return 0 if difference.empty else EXIT_DIFFERENCES
