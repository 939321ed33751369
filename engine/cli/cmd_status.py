"""``sinks status``: a table of the sinks of a running engine (read over its HTTP)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from engine.specification.constants import DEFAULT_STATUS_ADDR, STATUS_TOKEN_VARIABLE
from engine.specification.exitcodes import ExitCode

COLUMNS = ("NAME", "STATE", "DELIVERED", "FAILED", "POSITION", "LAG", "LAST ERROR")
MAX_ERROR = 80


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "status",
        help="show the sinks of a running engine",
        description="Ask a running `sinks run` for its sinks and print one line per sink.",
    )
    p.add_argument(
        "--addr", default=DEFAULT_STATUS_ADDR, help="status address (default %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print the raw JSON answer")
    p.set_defaults(handler=run)


def open_status(addr: str, path: str, timeout: float) -> Any:
    """The engine's answer for ``path``, with its bearer token when one is set."""
    request = urllib.request.Request(f"http://{addr}{path}")
    token = os.environ.get(STATUS_TOKEN_VARIABLE)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    return urllib.request.urlopen(request, timeout=timeout)


def fetch(addr: str, path: str = "/sinks", timeout: float = 5.0) -> Any:
    with open_status(addr, path, timeout) as response:
        return json.loads(response.read())


def refusal_401() -> str:
    return f"requires a token: set {STATUS_TOKEN_VARIABLE} to the engine's --status-token"


def refusal(exc: urllib.error.HTTPError) -> str:
    return refusal_401() if exc.code == 401 else f"answered {exc.code} {exc.reason}"


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _owner(owner: Mapping[str, Any] | None) -> str:
    if not owner:
        return "-"
    return f"{owner.get('host') or '?'}/{owner.get('pid') or '?'}"


def format_table(sinks: Sequence[Mapping[str, Any]]) -> str:
    """One line per sink; an OWNER column (host/pid) when an engine runs as a group."""
    grouped = any(s.get("owner") for s in sinks)
    columns = (*COLUMNS[:-1], "OWNER", COLUMNS[-1]) if grouped else COLUMNS
    rows: list[tuple[str, ...]] = [columns]
    for s in sinks:
        error = _cell(s.get("last_error")).replace("\n", " ")
        if len(error) > MAX_ERROR:
            error = error[: MAX_ERROR - 3] + "..."
        cells = [
            _cell(s.get("name")),
            _cell(s.get("state")),
            _cell(s.get("delivered")),
            _cell(s.get("failed")),
            _cell(s.get("last_delivered_position")),
            _cell(s.get("lag")),
        ]
        if grouped:
            cells.append(_owner(s.get("owner")))
        rows.append((*cells, error))
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns) - 1)]
    lines = []
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        body = fetch(args.addr)
    except urllib.error.HTTPError as exc:
        print(f"sinks status: error: the engine at {args.addr} {refusal(exc)}", file=sys.stderr)
        return ExitCode.CONFIG
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"sinks status: error: no engine answers at {args.addr}: {reason}", file=sys.stderr)
        return ExitCode.CONFIG
    if args.json:
        print(json.dumps(body, indent=1))
        return ExitCode.OK
    print(format_table(body.get("sinks", [])))
    group = body.get("group")
    if group:
        member = group.get("member") or {}
        print(
            f"group {group.get('name')}: {len(group.get('members') or [])} member(s), "
            f"generation {_cell(group.get('generation'))}; this member "
            f"{_owner(member)} owns {group.get('sinks_owned', 0)} sink(s)"
        )
    reload = body.get("last_reload") or {}
    for line in reload.get("issues", []):
        print(line)
    return ExitCode.OK
