"""``sinks top``: a live view of a running engine, refreshed from its status endpoint.

Every ``--interval`` seconds the command reads ``/sinks`` (the same JSON ``sinks
status`` reads) and redraws one row per sink: state, events/s, delivered and
failed counts, lag, owner and last error. Events/s is the change of the sink's
delivered count between two successive polls divided by the time between them, so
the first frame shows ``-``; a count that went down (the sink was restarted and
its counters began again) also shows ``-`` for one frame. The OWNER column
appears when the status names the process that runs a sink (group mode).

An engine that stops answering does not end the view: the frame says so and the
next poll tries again. ``q`` (on a terminal) or Ctrl-C quits, exit 0. ``--once``
prints one frame after two polls, without the live screen, for scripts; it exits 6
when no engine answered. A non-positive ``--interval`` exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import time
import urllib.error
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.runtime.worker_api import SinkState
from engine.specification.exitcodes import ExitCode
from engine.supervisor.supervisor import IdleState

MAX_ERROR = 60
STATE_STYLES = {
    SinkState.RUNNING.value: "green",
    SinkState.ACTIVATING.value: "cyan",
    SinkState.DEACTIVATING.value: "yellow",
    SinkState.STOPPED.value: "yellow",
    IdleState.DISABLED.value: "dim",
    SinkState.FAILED.value: "bold red",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "top",
        help="live view of a running engine: state, events/s, lag, owner, last error",
        description="Show the sinks of a running `sinks run` and refresh the view every "
        "--interval seconds. Press q or Ctrl-C to quit.",
    )
    p.add_argument("--addr", default="127.0.0.1:7781", help="status address (default %(default)s)")
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between two polls (default %(default)s)",
    )
    p.add_argument("--once", action="store_true", help="print one frame (after two polls) and exit")
    p.set_defaults(handler=run)


@dataclass(frozen=True)
class Poll:
    """One answer of the engine (or why there was none), with the time it was read."""

    at: float  # time.monotonic()
    body: Mapping[str, Any] | None
    error: str | None = None


class Rates:
    """Events/s per sink from the delivered counts of successive polls."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def update(self, at: float, sinks: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        rates: dict[str, float | None] = {}
        seen: dict[str, tuple[float, int]] = {}
        for sink in sinks:
            name, delivered = str(sink.get("name")), sink.get("delivered")
            if not isinstance(delivered, int):
                rates[name] = None
                continue
            before = self._last.get(name)
            rate = None
            if before is not None and at > before[0] and delivered >= before[1]:
                rate = (delivered - before[1]) / (at - before[0])
            rates[name] = rate
            seen[name] = (at, delivered)
        self._last = seen
        return rates


def owner_text(owner: Any) -> str:
    """The process that runs a sink: ``host:pid``, else its member id, else as given."""
    if owner is None or owner == "":
        return "-"
    if isinstance(owner, Mapping):
        host, pid = owner.get("host"), owner.get("pid")
        if host and pid:
            return f"{host}:{pid}"
        member = owner.get("member_id") or owner.get("member")
        return str(member) if member else "-"
    return str(owner)


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"


def _error(text: Any) -> str:
    error = _cell(text).replace("\n", " ")
    return error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 3] + "..."


def frame(
    addr: str, poll: Poll, rates: Mapping[str, float | None], *, clock: str, live: bool = True
) -> Any:
    """The renderable of one refresh (a rich Group: title line, table, reload issues)."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if poll.body is None:
        return Group(
            Text(f"sinks top  {addr}  {clock}", style="bold"),
            Text(f"no engine answers at {addr}: {poll.error}; trying again", style="red"),
        )
    sinks: list[Mapping[str, Any]] = list(poll.body.get("sinks") or [])
    with_owner = any(s.get("owner") for s in sinks)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("NAME", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    for column in ("EVENTS/S", "DELIVERED", "FAILED", "LAG"):
        table.add_column(column, justify="right", no_wrap=True)
    if with_owner:
        table.add_column("OWNER", no_wrap=True)
    table.add_column("LAST ERROR", no_wrap=True, overflow="ellipsis", ratio=1)
    running = 0
    for s in sinks:
        state = _cell(s.get("state"))
        running += state == SinkState.RUNNING.value
        row: list[str | Text] = [
            _cell(s.get("name")),
            Text(state, style=STATE_STYLES.get(state, "")),
            _rate(rates.get(str(s.get("name")))),
            _cell(s.get("delivered")),
            _cell(s.get("failed")),
            _cell(s.get("lag")),
        ]
        if with_owner:
            row.append(owner_text(s.get("owner")))
        row.append(_error(s.get("last_error")))
        table.add_row(*row)
    head = poll.body.get("head_position")
    title = (
        f"sinks top  {addr}  {clock}  {len(sinks)} sinks, {running} running"
        f"  head of $all: {_cell(head)}"
    )
    parts: list[Any] = [Text(title, style="bold"), table]
    if poll.body.get("head_error"):
        parts.append(Text(f"head of $all unknown: {poll.body['head_error']}", style="yellow"))
    reload = poll.body.get("last_reload") or {}
    for line in reload.get("issues") or []:
        parts.append(Text(str(line), style="red"))
    if live:
        parts.append(Text("q or Ctrl-C quits", style="dim"))
    return Group(*parts)


def poll_once(addr: str) -> Poll:
    from engine.cli.cmd_status import fetch

    try:
        return Poll(time.monotonic(), fetch(addr, timeout=2.0))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Poll(time.monotonic(), None, str(getattr(exc, "reason", exc)))


@contextlib.contextmanager
def _keys() -> Iterator[bool]:
    """Single-key input from a terminal stdin while the view runs; yields whether it works."""
    if not sys.stdin.isatty():
        yield False
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _wait_for_quit(seconds: float, keys: bool) -> bool:
    """Sleep ``seconds``; True when ``q`` was pressed meanwhile."""
    if not keys:
        time.sleep(seconds)
        return False
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([sys.stdin], [], [], left)
        if ready and os.read(sys.stdin.fileno(), 1) in (b"q", b"Q"):
            return True
    return False


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.live import Live

    if args.interval <= 0:
        print("sinks top: error: --interval must be above 0", file=sys.stderr)
        return ExitCode.USAGE
    rates = Rates()
    console = Console()
    if args.once:
        first = poll_once(args.addr)
        if first.body is not None:
            rates.update(first.at, first.body.get("sinks") or [])
            time.sleep(args.interval)
        last = poll_once(args.addr)
        now = rates.update(last.at, (last.body or {}).get("sinks") or [])
        console.print(frame(args.addr, last, now, clock=time.strftime("%H:%M:%S"), live=False))
        return ExitCode.OK if last.body is not None else ExitCode.TEMPORARY
    try:
        with _keys() as keys, Live(console=console, screen=True, auto_refresh=False) as live:
            while True:
                poll = poll_once(args.addr)
                now = rates.update(poll.at, (poll.body or {}).get("sinks") or [])
                clock = time.strftime("%H:%M:%S")
                live.update(frame(args.addr, poll, now, clock=clock), refresh=True)
                if _wait_for_quit(args.interval, keys):
                    return ExitCode.OK
    except KeyboardInterrupt:
        return ExitCode.OK
