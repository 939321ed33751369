"""Run the KurrentDB-protocol stand-in in its own process (test and sandbox support).

    python -m engine.testbed.standin --host 127.0.0.1 --port 2113 [--data-dir DIR]

Prints ``kurrentdb-standin listening on esdb://HOST:PORT?Tls=false`` once it serves, then
serves until SIGTERM or SIGINT. With ``--data-dir`` appends go to an append-only journal
there and are reloaded at start. Fault hooks: SIGUSR1 drops every subscription; lines on
stdin ``drop`` and ``refuse <seconds>`` do the same / stop serving for that long, each
answered with an ``ok`` line on stdout.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from engine.testbed.standin.process import READY_PREFIX
from engine.testbed.standin.server import StandIn


def _control_loop(standin: StandIn, done: threading.Event, exit_on_eof: bool) -> None:
    for line in sys.stdin:
        words = line.split()
        try:
            if words == ["drop"]:
                standin.drop_subscriptions()
            elif len(words) == 2 and words[0] == "refuse":
                standin.refuse_connections(float(words[1]))
            else:
                print(f"error: unknown command {line.strip()!r}", flush=True)
                continue
        except Exception as exc:  # answer instead of dying: the caller waits for a line
            print(f"error: {exc}", flush=True)
            continue
        print("ok", flush=True)
    if exit_on_eof:
        done.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.testbed.standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2113)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true",
        help="stop when stdin closes (so a dead parent leaves no server behind)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    standin = StandIn(host=args.host, port=args.port, data_dir=args.data_dir)
    standin.start()
    done = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    def on_drop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=standin.drop_subscriptions, daemon=True).start()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGUSR1, on_drop)
    print(READY_PREFIX + standin.url, flush=True)
    threading.Thread(
        target=_control_loop, args=(standin, done, args.exit_on_stdin_eof), daemon=True
    ).start()
    while not done.wait(0.5):
        pass
    standin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
