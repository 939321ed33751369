"""``sinks render``: print the sinks as the engine will run them, for one environment.

Formats:

* ``yaml`` / ``json`` - each sink with its canonical settings (defaults applied;
  ``--explicit`` keeps only the keys the files wrote).
* ``kurrentdb`` - a JSON list of the bodies KurrentDB's connector management API
  takes (``{"name": …, "settings": {…}}``): flat ``:``-separated keys, every value a
  string, only the settings the files wrote plus ``instanceTypeName``, and
  ``defaultHeaders`` spread into ``defaultHeaders:<Name>`` keys.

Every format is masked. Nothing goes to stdout when any file has errors (exit 1), so
the output can be piped safely. The one exception is asked for by name:
``--format kurrentdb --reveal-secrets`` prints the real values (the body must carry
them to be posted to KurrentDB's API) and says so on stderr; the flag is refused
(exit 2) with any other format and with ``--allow-missing-secrets``, whose
placeholders are no secret to reveal.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from engine.cli.cmd_validate import add_source_options, default_env, load, print_diagnostics
from engine.specification.exitcodes import ExitCode

INSTANCE_TYPE = "instanceTypeName"
REVEAL_WARNING = (
    "sinks render: warning: --reveal-secrets: the output holds passwords and secret values "
    "in clear; do not store it or paste it anywhere it can be read"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "render",
        help="print the sinks of one environment as the engine sees them (masked)",
        description="Render, validate and print every sink of one environment.",
    )
    add_source_options(parser, many_envs=False)
    parser.add_argument("--format", choices=("yaml", "json", "kurrentdb"), default="yaml")
    parser.add_argument("--explicit", action="store_true", help="only the settings the files wrote")
    parser.add_argument(
        "--reveal-secrets",
        action="store_true",
        help="with --format kurrentdb only: print secret values in clear (warns on stderr)",
    )
    parser.set_defaults(handler=run)


def flat_string(value: Any) -> str:
    """A value as the original's settings API spells it (``true``, ``6``, ``Zstd``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def kurrentdb_settings(written: Mapping[str, Any], instance_type: str) -> dict[str, str]:
    flat: dict[str, str] = {INSTANCE_TYPE: instance_type}
    for key, value in written.items():
        if isinstance(value, Mapping):
            for sub, item in value.items():
                flat[f"{key}:{sub}"] = flat_string(item)
        elif value is not None:
            flat[key] = flat_string(value)
    return flat


def run(args: argparse.Namespace) -> int:
    from engine.config.loader import masked_settings, masked_written

    reveal = bool(getattr(args, "reveal_secrets", False))
    if reveal and args.format != "kurrentdb":
        print("sinks render: error: --reveal-secrets needs --format kurrentdb", file=sys.stderr)
        return ExitCode.USAGE
    if reveal and args.allow_missing_secrets:
        print(
            "sinks render: error: --reveal-secrets cannot be used with --allow-missing-secrets",
            file=sys.stderr,
        )
        return ExitCode.USAGE
    env = args.env if args.env is not None else default_env()
    result = load(args, env)
    print_diagnostics(result.diagnostics)
    if not result.ok:
        return ExitCode.CONFIG
    if reveal:
        print(REVEAL_WARNING, file=sys.stderr)
    entries: list[dict[str, Any]] = []
    for file in result.files:
        for sink in file.sinks:
            if args.format == "kurrentdb":
                written = (
                    dict(file.written.get(sink.name, {}))
                    if reveal
                    else masked_written(file, sink, result.secrets)
                )
                instance = str(sink.canonical.get(INSTANCE_TYPE) or "kafka-sink")
                entries.append(
                    {"name": sink.name, "settings": kurrentdb_settings(written, instance)}
                )
                continue
            settings = masked_settings(sink, result.secrets)
            if args.explicit:
                settings = {k: v for k, v in settings.items() if k in sink.explicit}
            entries.append(
                {
                    "name": sink.name,
                    "source": sink.source_file,
                    "description": result.secrets.mask_text(sink.description),
                    "enabled": sink.enabled,
                    "labels": result.secrets.mask_value(dict(sink.labels)),
                    "settings": dict(sorted(settings.items())),
                }
            )
    if not reveal:  # masked as values, before any escaping: see SecretBook.mask_value
        entries = result.secrets.mask_value(entries, numbers=True)
    if args.format in ("json", "kurrentdb"):
        body = entries if args.format == "kurrentdb" else {"env": env, "sinks": entries}
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return ExitCode.OK
    sys.stdout.write(_yaml(entries, result.secrets.mask_text(env or "")))
    return ExitCode.OK


def _yaml(entries: list[dict[str, Any]], env: str) -> str:
    import yaml

    parts = [f"# rendered for environment: {env or '(none)'}\n"]
    for entry in entries:
        source = entry.pop("source")
        body = yaml.safe_dump(entry, sort_keys=False, allow_unicode=True, default_flow_style=False)
        parts.append(f"---\n# source: {source}\n{body}")
    return "".join(parts)
