"""``sinks run``: render, validate and run every sink; hot-reload on change.

Refuses to start (exit 1, every error printed) when any file has errors. Once
running, file changes and SIGHUP reload per sink; SIGTERM/SIGINT stop every sink
gracefully (flush, final checkpoint) and exit 0, or 5 when a sink did not stop
within ``--shutdown-timeout`` seconds.

With ``--group`` the process is one member of a group that shares the sinks
(``engine.supervisor.group``); ``--processes N`` runs N such members under one parent. A
coordination cluster that cannot be reached at start is refused like a
configuration error (exit 1), naming the cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from engine.cli import preflight
from engine.specification.constants import (
    DEFAULT_ENGINE_ID,
    DEFAULT_KURRENTDB_URL,
    DEFAULT_SINKS_DIR,
    DEFAULT_STATUS_ADDR,
    ENGINE_ID_VARIABLE,
    ENV_VARIABLE,
    KURRENTDB_CLIENT_VARIABLE,
    KURRENTDB_CLIENTS,
    KURRENTDB_URL_VARIABLE,
    SHUTDOWN_TIMEOUT_S,
    STATUS_TOKEN_VARIABLE,
)
from engine.specification.exitcodes import ExitCode

if TYPE_CHECKING:
    from engine.supervisor.app import EngineApp, EngineOptions


def kurrentdb_url(flag: str | None) -> str:
    """``--kurrentdb`` flag, else env ``KURRENTDB_URL``, else the local default."""
    return flag or os.environ.get(KURRENTDB_URL_VARIABLE) or DEFAULT_KURRENTDB_URL


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set key=value`` items (values read as YAML scalars, as ``sinks render`` does)."""
    from engine.config.templating import parse_override

    overrides: dict[str, Any] = {}
    for item in items or ():
        parsed = parse_override(item)
        if parsed is None or not parsed[0]:
            raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[parsed[0]] = parsed[1]
    return overrides


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run",
        help="run every sink in sinks.d/ and reload on change",
        description="Render and validate every sink file, then run each enabled sink "
        "(KurrentDB catch-up subscription produced to Kafka). Files are watched: a changed "
        "sink restarts from its checkpoint, an invalid file is rejected while its sinks keep "
        "running on their last good definition. SIGHUP reloads; SIGTERM/SIGINT stop.",
    )
    p.add_argument(
        "--env",
        default=os.environ.get(ENV_VARIABLE) or None,
        help="environment: values from <dir>/_values/<env>.yaml (default: $SINKS_ENV)",
    )
    p.add_argument(
        "--dir", default=DEFAULT_SINKS_DIR, help="folder of sink files (default: %(default)s)"
    )
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="template value override (repeat)"
    )
    p.add_argument(
        "--status-addr",
        default=DEFAULT_STATUS_ADDR,
        help="status/metrics HTTP address (default %(default)s; 'off' disables it)",
    )
    p.add_argument(
        "--status-token",
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on every status endpoint but /healthz "
        f"(default: ${STATUS_TOKEN_VARIABLE}; prefer the variable: a flag shows in ps)",
    )
    p.add_argument("--kurrentdb", help="KurrentDB URL (default: $KURRENTDB_URL or localhost)")
    p.add_argument(
        "--kurrentdb-client",
        choices=KURRENTDB_CLIENTS,
        help=f"client library to read KurrentDB with (default: ${KURRENTDB_CLIENT_VARIABLE}, "
        f"else {KURRENTDB_CLIENTS[0]} if installed, else {KURRENTDB_CLIENTS[1]}; "
        f"{KURRENTDB_CLIENTS[1]} lives in a virtualenv of its own, see the README)",
    )
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=SHUTDOWN_TIMEOUT_S,
        metavar="S",
        help="seconds every sink gets to flush and checkpoint on stop (default %(default)g)",
    )
    p.add_argument(
        "--engine-id",
        default=os.environ.get(ENGINE_ID_VARIABLE) or DEFAULT_ENGINE_ID,
        metavar="ID",
        help="without --group: the id in the transactional ids of exactlyOnce sinks, "
        f"sinks-engine.<ID>.<sink>; a restarted engine must keep it to fence its previous "
        f"run (default: ${ENGINE_ID_VARIABLE}, else %(default)s)",
    )
    from engine.supervisor.group import options as cluster_options

    cluster_options.register(p)
    p.set_defaults(handler=run)


def choose_client(flag: str | None) -> str:
    """Settle the KurrentDB client library before anything imports the adapter: the
    flag goes into the environment, where the adapter (and every --processes child)
    reads it. PermanentError when the choice is not installed."""
    from engine.adapters.kurrentdb_library import chosen_library
    from engine.specification.errors import PermanentError

    if flag:
        os.environ[KURRENTDB_CLIENT_VARIABLE] = flag
    library = chosen_library()
    loaded = sys.modules.get("engine.adapters.kurrentdb")  # already chosen in this process
    if loaded is not None and library != loaded.LIBRARY:
        raise PermanentError(f"{loaded.LIBRARY} is already in use in this process, not {library}")
    return library


def run(args: argparse.Namespace) -> int:
    from engine.specification.errors import PermanentError

    try:
        choose_client(args.kurrentdb_client)
    except PermanentError as exc:
        print(f"sinks run: error: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    preflight.check()  # one error for a broken environment, not a FAILED state per sink

    from engine.runtime.gc_tuning import tune_collector
    from engine.specification.errors import EngineError, TemporaryError
    from engine.specification.naming import GroupNameError, check_group
    from engine.supervisor.app import EngineApp, EngineOptions
    from engine.supervisor.group.options import OptionError, from_args
    from engine.supervisor.logs import route_client_logs, stderr_log

    try:
        overrides = parse_overrides(args.set)
        cluster = from_args(args)
        check_group(args.engine_id)
    except (argparse.ArgumentTypeError, OptionError, GroupNameError) as exc:
        print(f"sinks run: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    options = EngineOptions(
        sinks_dir=Path(args.dir),
        env=args.env,
        overrides=overrides,
        kurrentdb_url=kurrentdb_url(args.kurrentdb),
        status_addr=None if args.status_addr in ("", "off") else args.status_addr,
        status_token=status_token(args.status_token),
        shutdown_timeout=args.shutdown_timeout,
        cluster=cluster,
        engine_id=args.engine_id,
    )
    if not options.sinks_dir.is_dir():
        print(f"sinks run: error: {options.sinks_dir}: no such directory", file=sys.stderr)
        return ExitCode.CONFIG
    log = stderr_log(args.log_format)
    app = EngineApp(options, log=log)
    first = app.load()  # the same source every reload polls again
    for diagnostic in first.result.diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    if not first.result.ok:
        errors = len(first.result.errors)
        print(f"sinks run: {errors} error(s); not starting", file=sys.stderr)
        return ExitCode.CONFIG
    if cluster is not None and cluster.processes > 1:
        return _run_processes(args, options, cluster.processes)
    route_client_logs(log)
    tune_collector()
    if threading.current_thread() is threading.main_thread():
        _install_signals(app)
    try:
        app.start(first)
    except OSError as exc:  # e.g. the status address is taken
        app.shutdown()
        if exc.errno == errno.EADDRINUSE and options.status_addr:
            raise EngineError(
                f"cannot start: the status address {options.status_addr} is already in use "
                "(another engine?); choose another with --status-addr HOST:PORT, or turn "
                "the status server off with --status-addr off"
            ) from exc
        raise EngineError(f"cannot start: {exc}") from exc
    except TemporaryError as exc:  # the coordination cluster is out of reach
        app.shutdown()
        print(f"sinks run: error: {exc}; not starting", file=sys.stderr)
        return ExitCode.CONFIG
    app.serve()
    result = app.shutdown()
    if result.stuck:
        print(
            "sinks run: sinks still running after the shutdown deadline: "
            + ", ".join(result.stuck),
            file=sys.stderr,
        )
        return ExitCode.STUCK
    return ExitCode.OK


def status_token(flag: str | None) -> str | None:
    """The token the status server requires; a flag's value reaches --processes children
    through the variable, so it never shows in their command lines."""
    if flag:
        os.environ[STATUS_TOKEN_VARIABLE] = flag
    return os.environ.get(STATUS_TOKEN_VARIABLE) or None


# What a --processes child gets instead of the parent's value for these options: its
# own status address, one process, and the password and the status token through its
# environment (a flag would show in a process listing).
_CHILD_OWN = ("status_addr", "processes", "group_password", "status_token")


def child_command(args: argparse.Namespace, status_addr: str | None) -> list[str]:
    """``sinks run`` for one member of ``--processes``: the same flags, its own address.

    The flags come from the ``run`` parser itself, so a new flag reaches the children
    without being listed here. A password or status token given as a flag reaches the
    children through their environment, so it never shows in a process listing.
    """
    own = {
        "status_addr": status_addr or "off",
        "processes": "1",
        "group_password": None,
        "status_token": None,
    }
    command = [sys.executable, "-m", "engine.cli.main", "run"]
    for action in _run_parser()._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        flag = action.option_strings[-1]
        value = own[action.dest] if action.dest in _CHILD_OWN else getattr(args, action.dest)
        if isinstance(action, argparse._AppendAction):
            for item in value or ():
                command += [flag, str(item)]
        elif value not in (None, ""):
            command += [flag, str(value)]
    return command


def _run_parser() -> argparse.ArgumentParser:
    """A fresh ``sinks run`` parser (its actions list every flag ``run`` takes)."""
    subparsers = argparse.ArgumentParser().add_subparsers()
    register(subparsers)
    parser: argparse.ArgumentParser = subparsers.choices["run"]
    return parser


def _run_processes(args: argparse.Namespace, options: EngineOptions, count: int) -> int:
    from engine.adapters.kafka.group import check_reachable
    from engine.specification.errors import TemporaryError
    from engine.supervisor.group.options import ENV
    from engine.supervisor.group.processes import ProcessGroup

    assert options.cluster is not None
    try:
        check_reachable(options.cluster.connection, timeout=10.0)
    except TemporaryError as exc:
        print(f"sinks run: error: {exc}; not starting", file=sys.stderr)
        return ExitCode.CONFIG
    env = dict(os.environ)
    if args.group_password:
        env[ENV["group_password"]] = args.group_password
    parent = ProcessGroup(
        lambda _index, addr: child_command(args, addr),
        count,
        status_addr=options.status_addr,
        shutdown_timeout=options.shutdown_timeout,
        env=env,
    )
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: parent.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: parent.signal_all(signal.SIGHUP))
    return parent.run()


def _install_signals(app: EngineApp) -> None:
    import faulthandler

    from engine.supervisor.watcher import install_sighup

    # `kill -USR1 <pid>` writes every thread's stack to stderr: the first thing to
    # look at when a process does not stop.
    if sys.__stderr__ is not None:
        with contextlib.suppress(AttributeError, OSError, ValueError):  # stderr with no file
            faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)

    def on_stop(_signum: int, _frame: FrameType | None) -> None:
        app.request_stop()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    install_sighup(app.queue)
