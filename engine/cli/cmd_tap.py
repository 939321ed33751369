"""``sinks tap NAME``: print the messages a sink produces, from now on, masked.

The sink's definition is loaded from the sink files (same ``--dir``/``--env``/``--set``
as ``sinks run``), so the tap reaches the sink's brokers and topic with the sink's
own connection and authentication settings. It starts at the end of every partition
of the topic and prints each message the sink writes from then on: partition,
offset, key, headers and value. Messages of the topic that another sink or producer
wrote (their ``esdb-connector-id`` header names someone else) are not shown.

Masked like every other output: each secret value the templates rendered and each
value of a sensitive setting is printed as ``***`` wherever it appears in a message.

A topic that does not exist yet is waited for, then read from its beginning (the
sink's first message creates it). Exit codes: 0 after ``--limit`` messages, or on
Ctrl-C; 1 the files have errors, no sink has that name, or the brokers refuse the
client; 6 the brokers could not be reached within ``--connect-timeout``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from engine.cli.cmd_validate import add_source_options, default_env, load, print_diagnostics
from engine.specification.exitcodes import ExitCode

CONNECTOR_HEADER = "esdb-connector-id"
POLL_S = 0.5


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "tap",
        help="print the messages a sink produces from now on (masked)",
        description="Read the topic of sink NAME from its current end and print every "
        "message that sink produces from now on: partition, offset, key, headers and value, "
        "with secrets masked. Ctrl-C stops.",
    )
    p.add_argument("name", metavar="NAME", help="the sink's name")
    add_source_options(p, many_envs=False)
    p.add_argument(
        "--topic",
        metavar="TOPIC",
        help="the topic to read, for a sink whose topic has placeholders (es.{category}): "
        "one of the topics it fills in",
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N messages")
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds to wait for the brokers at start (default %(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text (default), or one JSON object per message and line",
    )
    p.set_defaults(handler=run)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def as_json(message: Any) -> dict[str, Any]:
    return {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp_ms": message.timestamp_ms,
        "key": _text(message.key),
        "headers": [[name, _text(value)] for name, value in message.headers],
        "value": _text(message.value),
    }


def as_text(message: Any) -> list[str]:
    key = _text(message.key)
    headers = ", ".join(f"{name}={_text(value)}" for name, value in message.headers)
    return [
        f"{message.topic} partition={message.partition} offset={message.offset} "
        f"key={'(none)' if key is None else key}",
        f"  headers: {headers or '(none)'}",
        f"  value: {'(null)' if message.value is None else _text(message.value)}",
    ]


def produced_by(message: Any, sink: str) -> bool:
    return any(
        name == CONNECTOR_HEADER and value == sink.encode() for name, value in message.headers
    )


def _sensitive_values(settings: Any, keys: Sequence[str]) -> list[str]:
    lower = {k.lower() for k in keys}
    return [str(v) for k, v in settings.items() if k.lower() in lower and v not in (None, "")]


def run(args: argparse.Namespace) -> int:
    from engine.config.masking import sensitive_keys

    if args.limit is not None and args.limit < 1:
        print("sinks tap: error: --limit must be 1 or more", file=sys.stderr)
        return ExitCode.USAGE
    env = args.env if args.env is not None else default_env()
    result = load(args, env)
    print_diagnostics(result.diagnostics)
    if not result.ok:
        return ExitCode.CONFIG
    definitions = {d.name: d for d in result.definitions}
    definition = definitions.get(args.name)
    if definition is None:
        from engine.config.suggest import did_you_mean

        hint = did_you_mean(args.name, definitions)
        print(f"sinks tap: error: no sink named {args.name!r}{hint}", file=sys.stderr)
        return ExitCode.CONFIG
    problem = _topic_problem(definition, args.topic)
    if problem is not None:  # the topic may have been written from a secret
        print(f"sinks tap: error: {result.secrets.mask_text(problem)}", file=sys.stderr)
        return ExitCode.USAGE
    secrets = result.secrets
    for value in _sensitive_values(definition.canonical, sorted(sensitive_keys())):
        secrets.add(value)

    import logging

    from engine.adapters.kafka import CLIENT_LOGGER
    from engine.supervisor.logs import route_client_logs, stderr_log

    # The client's own warnings (a broker gone, a refused login) in the engine's log
    # format, for the time of this command only: the logger is left as it was found.
    client_logger = logging.getLogger(CLIENT_LOGGER)
    saved = (list(client_logger.handlers), client_logger.level, client_logger.propagate)
    route_client_logs(stderr_log("text"), logging.WARNING)
    try:
        return _tap(args, definition, secrets)
    finally:
        client_logger.handlers[:] = saved[0]
        client_logger.setLevel(saved[1])
        client_logger.propagate = saved[2]


def _topic_problem(definition: Any, topic: str | None) -> str | None:
    """Why ``--topic`` cannot be used with this sink (or is missing), or None."""
    from engine.specification.topics import name_problem

    template = definition.settings.topic_template
    if topic is None:
        if template.routed:
            return (
                f"sink {definition.name!r} writes to the topic its events call for "
                f"({template.text!r}): give --topic with one of those topics"
            )
        return None
    if not template.routed and topic != template.text:
        return f"sink {definition.name!r} writes only to {template.text!r}, not to {topic!r}"
    problem = name_problem(topic)
    return f"--topic {topic!r}: {problem}" if problem is not None else None


def _tap(args: argparse.Namespace, definition: Any, secrets: Any) -> int:
    from engine.adapters.kafka import Tap
    from engine.specification.errors import PermanentError, TemporaryError

    settings = definition.settings
    tap = Tap(settings, topic=args.topic)
    shown = 0
    try:
        try:
            offsets = tap.start(args.connect_timeout)
        except TemporaryError as exc:
            print(f"sinks tap: error: {secrets.mask_text(str(exc))}", file=sys.stderr)
            return ExitCode.TEMPORARY
        except PermanentError as exc:
            print(f"sinks tap: error: {secrets.mask_text(str(exc))}", file=sys.stderr)
            return ExitCode.CONFIG
        where = ", ".join(f"{p}@{o}" for p, o in offsets.items())
        start = (
            f"from partition@offset {where}"
            if offsets
            else "which does not exist yet; waiting for its first message"
        )
        print(
            secrets.mask_text(
                f"tapping sink {definition.name!r}: topic {tap.topic!r} "
                f"at {settings.bootstrap_servers}, {start}"
            ),
            file=sys.stderr,
            flush=True,
        )
        while args.limit is None or shown < args.limit:
            try:
                message = tap.poll(POLL_S)
            except TemporaryError as exc:  # the client retries by itself; say so and go on
                print(f"sinks tap: warning: {secrets.mask_text(str(exc))}", file=sys.stderr)
                continue
            if message is None or not produced_by(message, definition.name):
                continue
            if args.format == "json":  # masked as values, before JSON escapes them
                text = json.dumps(secrets.mask_value(as_json(message)), ensure_ascii=False)
            else:
                text = secrets.mask_text("\n".join(as_text(message)))
            print(text, flush=True)
            shown += 1
    except KeyboardInterrupt:
        pass
    except PermanentError as exc:
        print(f"sinks tap: error: {secrets.mask_text(str(exc))}", file=sys.stderr)
        return ExitCode.CONFIG
    finally:
        tap.close()
    return ExitCode.OK
