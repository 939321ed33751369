"""``sinks validate``: load ``sinks.d/`` for one, several or every environment.

Exit 0 when no file has errors (warnings allowed), 1 otherwise. Formats: ``text``
(compiler-style lines), ``json`` (machine-readable) and ``github`` (workflow
annotations, ``::error file=…,line=…,col=…::message``). Every output is masked: a
secret's value never appears. Also home of the option helpers that ``render`` and
``diff`` share (``--dir``, ``--env``, ``--set``, ``--allow-missing-secrets``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.cli import preflight
from engine.specification.constants import DEFAULT_SINKS_DIR, ENV_VARIABLE
from engine.specification.exitcodes import ExitCode
from engine.specification.model import Diagnostic, Severity

if TYPE_CHECKING:
    from engine.config.source import LoadResult


def add_source_options(parser: argparse.ArgumentParser, *, many_envs: bool) -> None:
    parser.add_argument(
        "--dir", default=DEFAULT_SINKS_DIR, help="folder holding the sink files (default: sinks.d)"
    )
    parser.add_argument(
        "--env",
        action="append" if many_envs else "store",
        default=None,
        help="environment: values from <dir>/_values/<env>.yaml "
        f"(default: ${ENV_VARIABLE})" + (" — repeatable" if many_envs else ""),
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=_override,
        help="override a template value; dotted keys reach into mappings (a.b=c)",
    )
    parser.add_argument(
        "--allow-missing-secrets",
        action="store_true",
        help="render a placeholder for secrets that are not available (for CI checks)",
    )


def _override(text: str) -> tuple[str, Any]:
    from engine.config.templating import parse_override

    parsed = parse_override(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"expects KEY=VALUE, got {text!r}")
    return parsed


def parse_overrides(items: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Parsed ``--set`` items in order (a later one wins)."""
    return dict(items)


def load(args: argparse.Namespace, env: str | None) -> LoadResult:
    """One poll of the config source for ``args.dir`` and ``env``."""
    from engine.config.source import ConfigSource
    from engine.config.templating import MissingSecrets

    missing = (
        MissingSecrets.PLACEHOLDER
        if getattr(args, "allow_missing_secrets", False)
        else MissingSecrets.ERROR
    )
    source = ConfigSource(
        args.dir, env=env, overrides=parse_overrides(args.overrides), missing_secrets=missing
    )
    return source.load()


def default_env() -> str | None:
    return os.environ.get(ENV_VARIABLE) or None


def print_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=sys.stderr)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check every sink file (YAML, templates, settings) and report all errors",
        description="Check every sink file for one or more environments; exit 0 when clean, "
        "1 when any file has errors.",
    )
    add_source_options(parser, many_envs=True)
    parser.add_argument(
        "--all-envs",
        action="store_true",
        help="validate every environment that has a values file in <dir>/_values/",
    )
    parser.add_argument("--format", choices=("text", "json", "github"), default="text")
    parser.set_defaults(handler=run)


def _envs(args: argparse.Namespace) -> list[str | None]:
    from pathlib import Path

    from engine.config.templating import list_envs

    if args.all_envs:
        found: list[str | None] = list(list_envs(Path(args.dir)))
        return found or [None]
    if args.env:
        return list(args.env)
    return [default_env()]


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(diagnostic: Diagnostic, envs: Sequence[str | None]) -> str:
    kind = "error" if diagnostic.severity is Severity.ERROR else "warning"
    props = []
    where = diagnostic.location
    if where is not None:
        props.append(f"file={_escape_property(where.path)}")
        if where.line > 0:
            props.append(f"line={where.line}")
        if where.column > 0:
            props.append(f"col={where.column}")
    named = [e for e in envs if e]
    if named:
        props.append(f"title={_escape_property('sinks validate (' + ', '.join(named) + ')')}")
    message = (f"{diagnostic.key}: " if diagnostic.key else "") + diagnostic.text
    if diagnostic.note:
        message += f"\nnote: {diagnostic.note}"
    head = f"::{kind} {','.join(props)}" if props else f"::{kind}"
    return f"{head}::{_escape_data(message)}"


def _json_diagnostic(diagnostic: Diagnostic) -> dict[str, Any]:
    where = diagnostic.location
    return {
        "path": where.path if where else None,
        "line": where.line if where else 0,
        "column": where.column if where else 0,
        "severity": diagnostic.severity.value,
        "key": diagnostic.key,
        "message": diagnostic.text,
        "note": diagnostic.note,
        "related": [
            {
                "path": r.location.path,
                "line": r.location.line,
                "column": r.location.column,
                "relation": r.relation.value,
            }
            for r in diagnostic.related
        ],
        "text": diagnostic.format(),
    }


def run(args: argparse.Namespace) -> int:
    preflight.check()  # "ok" means the sinks can run on this interpreter too
    envs = _envs(args)
    results = [(env, load(args, env)) for env in envs]
    clean = all(result.ok for _, result in results)
    if args.format == "json":
        report = {
            "ok": clean,
            "dir": args.dir,
            "environments": [
                {
                    "env": env,
                    "ok": result.ok,
                    "files": len(result.files),
                    "sinks": len(result.definitions),
                    "diagnostics": [_json_diagnostic(d) for d in result.diagnostics],
                }
                for env, result in results
            ],
        }
        print(json.dumps(report, indent=2))
    elif args.format == "github":
        grouped: dict[Diagnostic, list[str | None]] = {}
        for env, result in results:
            for diagnostic in result.diagnostics:
                grouped.setdefault(diagnostic, []).append(env)
        for diagnostic, where_envs in grouped.items():
            print(github_annotation(diagnostic, where_envs))
        for env, result in results:
            print(_summary(args.dir, env, result))
    else:
        for env, result in results:
            if len(results) > 1 and result.diagnostics:
                print(f"== environment {env} ==", file=sys.stderr)
            print_diagnostics(result.diagnostics)
        for env, result in results:
            print(_summary(args.dir, env, result))
    return ExitCode.OK if clean else ExitCode.CONFIG


def _summary(directory: str, env: str | None, result: Any) -> str:
    errors = sum(1 for d in result.diagnostics if d.severity is Severity.ERROR)
    warnings = len(result.diagnostics) - errors
    label = f" (env {env})" if env else ""
    verdict = "ok" if result.ok else "FAILED"
    return (
        f"{directory}{label}: {verdict}: {len(result.files)} files, "
        f"{len(result.definitions)} sinks, {errors} errors, {warnings} warnings"
    )
