"""``sinks explain [SETTING]``: one setting's facts, read from the settings tables.

Prints the type, default, accepted values, whether it is required or sensitive,
where it is described, and its description, all taken from ``schema/*.md`` through
``engine.specification.tables`` (the tables are the only source: nothing here repeats a
fact). A setting is found ignoring letter case, with ``:`` or ``.`` between parts;
a group (``compression``) lists its settings; no argument lists every setting.

Exit codes: 0 found; 1 no such setting or group (with a did-you-mean).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from engine.specification.exitcodes import ExitCode

WIDTH = 88  # description lines are wrapped to this many columns


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "explain",
        help="describe a setting: type, default, accepted values, meaning",
        description="Describe a sink setting from the settings tables: its type, default, "
        "accepted values and meaning. A group name (e.g. 'compression') lists the settings "
        "in it; without SETTING every setting is listed.",
    )
    p.add_argument("setting", nargs="?", metavar="SETTING", help="e.g. compression:type")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.set_defaults(handler=run)


def default_text(spec: Any) -> str:
    """The default as a user writes it in a sink file."""
    if not spec.has_default:
        return "none (required)" if spec.required else "none"
    value = spec.default
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in ("", {}):
        return "(empty)"
    return str(value)


def accepted_text(spec: Any) -> str:
    if spec.accepted:
        return ", ".join(spec.accepted)
    if spec.minimum is not None or spec.maximum is not None:
        low = "" if spec.minimum is None else str(spec.minimum)
        high = "" if spec.maximum is None else str(spec.maximum)
        return f"{low}..{high}"
    return "any"


def where(spec: Any) -> str:
    """``schema/<table>.md:<line>``: the same text from any working directory."""
    return f"schema/{Path(spec.source.path).name}:{spec.source.line}"


def describe(spec: Any) -> list[str]:
    """The lines ``sinks explain`` prints for one setting."""
    lines = [
        spec.key,
        f"  type:       {spec.type.value}",
        f"  default:    {default_text(spec)}",
        f"  accepted:   {accepted_text(spec)}",
        f"  required:   {'yes' if spec.required else 'no'}",
        f"  sensitive:  {'yes (printed as ***)' if spec.sensitive else 'no'}",
        f"  defined in: {where(spec)}",
        "",
    ]
    lines.extend(
        textwrap.wrap(spec.description, WIDTH, initial_indent="  ", subsequent_indent="  ")
    )
    return lines


def as_json(spec: Any) -> dict[str, Any]:
    return {
        "key": spec.key,
        "type": spec.type.value,
        "default": spec.default if spec.has_default else None,
        "has_default": spec.has_default,
        "accepted": list(spec.accepted),
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "required": spec.required,
        "sensitive": spec.sensitive,
        "origin": spec.origin,
        "defined_in": where(spec),
        "description": spec.description,
    }


def summary(specs: Any) -> list[str]:
    """One line per setting: key, type and default."""
    width = max(len(s.key) for s in specs)
    kinds = max(len(s.type.value) for s in specs)
    return [f"{s.key:<{width}}  {s.type.value:<{kinds}}  {default_text(s)}".rstrip() for s in specs]


def run(args: argparse.Namespace) -> int:
    from engine.config.suggest import did_you_mean
    from engine.specification.tables import load_catalogue

    catalogue = load_catalogue()
    if args.setting is None:
        chosen = list(catalogue.specs)
    else:
        wanted = args.setting.strip().replace(".", ":")
        spec = catalogue.find(wanted)
        if spec is not None:
            if args.json:
                print(json.dumps(as_json(spec), indent=2))
            else:
                print("\n".join(describe(spec)))
            return ExitCode.OK
        prefix = wanted.lower() + ":"
        chosen = [s for s in catalogue.specs if s.key.lower().startswith(prefix)]
        if not chosen:
            groups = {k.rsplit(":", 1)[0] for k in catalogue.keys if ":" in k}
            hint = did_you_mean(wanted, [*catalogue.keys, *sorted(groups)])
            print(f"sinks explain: error: unknown setting {wanted!r}{hint}", file=sys.stderr)
            return ExitCode.CONFIG
    if args.json:
        print(json.dumps([as_json(s) for s in chosen], indent=2))
    else:
        print("\n".join(summary(chosen)))
        print("\nsinks explain SETTING describes one of them.")
    return ExitCode.OK
