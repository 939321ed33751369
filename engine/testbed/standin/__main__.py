"""Run the KurrentDB-protocol stand-in in its own process (test and sandbox support).

    python -m engine.testbed.standin --host 127.0.0.1 --port 2113 [--data-dir DIR]
                                     [--transport h2|grpcio]

Prints ``kurrentdb-standin listening on esdb://HOST:PORT?Tls=false`` once it serves, then
serves until SIGTERM or SIGINT (open subscriptions end with UNAVAILABLE, then the process
exits without a graceful gRPC shutdown). With ``--data-dir`` appends go to an append-only
journal there and are reloaded at start. Fault hook: SIGUSR1, or the line ``drop`` on stdin
(answered with ``ok`` on stdout), ends every subscription with UNAVAILABLE. To refuse
connections for a while, stop the process and start it again on the same port.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from engine.testbed.standin.process import READY_PREFIX
from engine.testbed.standin.server import StandIn, Transport


def _control_loop(standin: StandIn, done: threading.Event, exit_on_eof: bool) -> None:
    for line in sys.stdin:
        words = line.split()
        try:
            if words == ["drop"]:
                standin.drop_subscriptions()
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
        "--transport", choices=[t.value for t in Transport], default=Transport.H2.value,
        help="h2 (default, fast streaming) or grpcio (grpcio's own server)",
    )  # fmt: skip
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true",
        help="stop when stdin closes (so a dead parent leaves no server behind)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    standin = StandIn(
        host=args.host, port=args.port, data_dir=args.data_dir, transport=args.transport
    )
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
    # Subscriptions end with UNAVAILABLE, then the process leaves without gRPC's graceful
    # shutdown: esdbclient 1.1.7 clients whose server went away with a GOAWAY were seen to
    # hang past their deadlines on the next call, while a closed socket fails them at once.
    standin.drop_subscriptions()
    time.sleep(0.1)
    standin.log.close()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
