"""``sinks reset``: move a stopped sink's checkpoint.

Writes a new checkpoint to ``$connectors/<name>/checkpoints`` so the sink, on
its next start, resumes after the given log position, from the very beginning
(``--earliest``) or after the current head of ``$all`` (``--latest``, the
default). Refused while the engine's status endpoint reports the sink
ACTIVATING, RUNNING or BACKOFF: a running sink would overwrite the reset with
its next commit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from engine.constants import DEFAULT_KURRENTDB_URL, DEFAULT_STATUS_ADDR, KURRENTDB_URL_VARIABLE
from engine.exitcodes import ExitCode

ACTIVE_STATES = frozenset({"ACTIVATING", "RUNNING", "BACKOFF"})


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reset",
        help="move a stopped sink's checkpoint",
        description="Move a stopped sink's checkpoint so it resumes elsewhere on its next start.",
    )
    parser.add_argument("name", help="sink name")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--position", type=int, metavar="P", help="resume after this log position")
    where.add_argument("--earliest", action="store_true", help="resume from the beginning")
    where.add_argument(
        "--latest", action="store_true", help="resume after the current end (the default)"
    )
    parser.add_argument("--kurrentdb", metavar="URL", help="KurrentDB connection string")
    parser.add_argument(
        "--status-addr",
        default=DEFAULT_STATUS_ADDR,
        metavar="HOST:PORT",
        help=f"the engine's status endpoint (default {DEFAULT_STATUS_ADDR})",
    )
    parser.set_defaults(handler=run)


def engine_state(status_addr: str, name: str, timeout: float = 2.0) -> str | None:
    """The sink's state as the running engine reports it; None if no engine answers."""
    url = f"http://{status_addr}/sinks/{urllib.parse.quote(name, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError:
        return None  # the engine runs, but does not know this sink
    except (OSError, ValueError):
        return None  # no engine listening
    state = body.get("state") if isinstance(body, dict) else None
    return str(state).upper() if state is not None else None


def run(args: argparse.Namespace) -> int:
    from engine.runtime.checkpoints import checkpoint_stream, reset

    state = engine_state(args.status_addr, args.name)
    if state in ACTIVE_STATES:
        print(
            f"sinks: error: sink '{args.name}' is {state} in the engine at {args.status_addr}; "
            "stop it (disable it or remove its file) before resetting its checkpoint",
            file=sys.stderr,
        )
        return ExitCode.CONFIG
    url = args.kurrentdb or os.environ.get(KURRENTDB_URL_VARIABLE) or DEFAULT_KURRENTDB_URL
    target: int | str
    if args.position is not None:
        if args.position < 0:
            print("sinks: error: --position must be 0 or more", file=sys.stderr)
            return ExitCode.USAGE
        target = args.position
    elif args.earliest:
        target = "earliest"
    else:
        target = "latest"
    checkpoint = reset(url, args.name, target)
    where = (
        "the beginning"
        if checkpoint.position is None
        else f"after log position {checkpoint.position.log_position}"
    )
    print(f"{args.name}: checkpoint reset in {checkpoint_stream(args.name)}: resumes from {where}")
    return ExitCode.OK
