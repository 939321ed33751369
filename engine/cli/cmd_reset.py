"""``sinks reset``: move a stopped sink's checkpoint.

Writes a new checkpoint to ``$connectors/<name>/checkpoints`` so the sink, on
its next start, resumes after the given log position, from the very beginning
(``--earliest``) or after the current head of ``$all`` (``--latest``, the
default). A sink with ``delivery:guarantee: exactlyOnce`` in ``--dir`` also gets
it in Kafka (``__sinks-engine.checkpoints``, the one that counts), written first,
in a transaction with the sink's own transactional id, which fences a copy still
running somewhere. Refused while the engine's status endpoint reports the sink
ACTIVATING, RUNNING or BACKOFF, or, with ``--group``, while a member of the group
owns it: a running sink would overwrite the reset with its next commit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
from typing import TYPE_CHECKING, Any

from engine.runtime.worker_api import SinkState
from engine.specification.constants import (
    DEFAULT_ENGINE_ID,
    DEFAULT_KURRENTDB_URL,
    DEFAULT_SINKS_DIR,
    DEFAULT_STATUS_ADDR,
    ENGINE_ID_VARIABLE,
    ENV_VARIABLE,
    KURRENTDB_URL_VARIABLE,
)
from engine.specification.exitcodes import ExitCode

if TYPE_CHECKING:
    from engine.runtime.checkpoints import Checkpoint
    from engine.specification.settings import SinkSettings
    from engine.supervisor.group.options import ClusterOptions

# A sink in one of these states has a worker that may still write its checkpoint.
ACTIVE_STATES = frozenset(
    state.value for state in (SinkState.ACTIVATING, SinkState.RUNNING, SinkState.BACKOFF)
)
LOCKED = "LOCKED"  # engine_state: an engine answers, but only with its token


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
    parser.add_argument(
        "--dir",
        default=DEFAULT_SINKS_DIR,
        help="folder of sink files, to learn the sink's guarantee and brokers "
        "(default: %(default)s)",
    )
    parser.add_argument("--env", default=os.environ.get(ENV_VARIABLE) or None, help="environment")
    parser.add_argument(
        "--engine-id",
        default=os.environ.get(ENGINE_ID_VARIABLE) or DEFAULT_ENGINE_ID,
        metavar="ID",
        help="the engine id the sink runs under without --group (default: %(default)s)",
    )
    from engine.supervisor.group import options as cluster_options

    cluster_options.register(parser)
    parser.set_defaults(handler=run)


def engine_state(status_addr: str, name: str, timeout: float = 2.0) -> str | None:
    """The sink's state as the running engine reports it; None if no engine answers."""
    from engine.cli.cmd_status import open_status

    path = f"/sinks/{urllib.parse.quote(name, safe='')}"
    try:
        with open_status(status_addr, path, timeout) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return LOCKED  # an engine runs there: its sink may be running too
        return None  # the engine runs, but does not know this sink
    except (OSError, ValueError):
        return None  # no engine listening
    state = body.get("state") if isinstance(body, dict) else None
    return str(state).upper() if state is not None else None


def run(args: argparse.Namespace) -> int:
    from engine.runtime.checkpoints import checkpoint_stream, reset
    from engine.specification.constants import CHECKPOINT_TOPIC

    state = engine_state(args.status_addr, args.name)
    if state == LOCKED:
        from engine.cli.cmd_status import refusal_401

        print(
            f"sinks: error: the engine at {args.status_addr} {refusal_401()}, so whether "
            f"sink '{args.name}' runs there cannot be told; reset refused",
            file=sys.stderr,
        )
        return ExitCode.CONFIG
    if state in ACTIVE_STATES:
        print(
            f"sinks: error: sink '{args.name}' is {state} in the engine at {args.status_addr}; "
            "stop it (disable it or remove its file) before resetting its checkpoint",
            file=sys.stderr,
        )
        return ExitCode.CONFIG
    from engine.supervisor.group.options import OptionError, from_args

    try:
        cluster = from_args(args)
    except OptionError as exc:
        print(f"sinks reset: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    # Engine errors (a server away) reach the command runner, which says temporary or not.
    owner = None if cluster is None else group_owner(cluster, args.name)
    settings = sink_settings(args.dir, args.env, args.name)
    if owner is not None and cluster is not None:
        print(
            f"sinks: error: sink '{args.name}' is run by {owner} in group {cluster.group}; "
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
    in_kafka = None
    if settings is not None and settings.exactly_once:
        from engine.runtime.exactly_once import reset_in_kafka
        from engine.specification.naming import transactional_prefix

        prefix = transactional_prefix(args.engine_id if cluster is None else cluster.group)

        def in_kafka(checkpoint: Checkpoint) -> None:
            reset_in_kafka(settings, prefix, args.name, checkpoint)

    checkpoint = reset(url, args.name, target, first=in_kafka)
    where = (
        "the beginning"
        if checkpoint.position is None
        else f"after log position {checkpoint.position.log_position}"
    )
    places = checkpoint_stream(args.name)
    if in_kafka is not None:
        places = f"{CHECKPOINT_TOPIC} and {places}"
    print(f"{args.name}: checkpoint reset in {places}: resumes from {where}")
    return ExitCode.OK


def group_owner(cluster: ClusterOptions, name: str) -> str | None:
    """Which member of the group owns sink ``name`` now (None: no one)."""
    from engine.adapters.kafka.group import describe_group
    from engine.specification.naming import consumer_group_id, control_topic

    topic = control_topic(cluster.group, name)
    for member in describe_group(cluster.connection, consumer_group_id(cluster.group), 10.0):
        if topic in member.topics:
            return f"member {member.member_id} ({member.client_id} on {member.host})"
    return None


def sink_settings(folder: str, env: str | None, name: str) -> SinkSettings | None:
    """The settings of sink ``name`` as ``folder`` defines it (None: no such sink there)."""
    from engine.config.source import ConfigSource

    if not os.path.isdir(folder):
        return None
    for definition in ConfigSource(folder, env=env).load().definitions:
        if definition.name == name:
            return definition.settings
    return None
