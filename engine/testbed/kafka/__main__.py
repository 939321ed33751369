"""``python -m engine.testbed.kafka resolve|start``: fetch the jars, or run a broker.

``start`` runs in the foreground until Ctrl-C (or SIGTERM) and then stops the
broker cleanly; its data stays in ``--dir`` when one is given.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from engine.testbed.kafka.broker import KafkaBroker
from engine.testbed.kafka.config import BrokerPorts
from engine.testbed.kafka.jars import KAFKA_VERSION, is_resolved, resolve_jars


def _resolve(args: argparse.Namespace) -> int:
    root = Path(args.cache_root) if args.cache_root else None
    cached = is_resolved(root)
    started = time.monotonic()
    libs = resolve_jars(root=root, maven_repo=Path(args.maven_repo) if args.maven_repo else None)
    elapsed = time.monotonic() - started
    state = "already cached" if cached else "resolved"
    print(f"Kafka {KAFKA_VERSION} jars {state} in {libs} ({elapsed:.2f}s)")
    return 0


def _start(args: argparse.Namespace) -> int:
    ports = BrokerPorts.from_base(args.port) if args.port else None
    broker = KafkaBroker(
        Path(args.dir) if args.dir else None, ports=ports, authorizer=args.authorizer
    )

    def _terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a shell that starts us in the background ignores SIGINT.
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        broker.start()
        for listener, address in broker.bootstraps.items():
            print(f"{listener:<15} {address}")
        for mechanism, (user, password) in broker.users.items():
            print(f"user {mechanism:<14} {user} / {password}")
        print(f"CA file         {broker.ca_file}")
        print(f"started in {broker.start_seconds:.1f}s; Ctrl-C stops the broker", flush=True)
        while broker.running:
            time.sleep(0.5)
        print(f"broker exited; see {broker.log_file}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # a given --dir keeps its data for the next start; a temporary one goes
        broker.stop()
        if not args.dir:
            broker.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.testbed.kafka")
    sub = parser.add_subparsers(dest="command", required=True)
    resolve = sub.add_parser("resolve", help="fetch the pinned Kafka jars with Maven (cached)")
    resolve.add_argument("--maven-repo", help="use this Maven local repository instead of ~/.m2")
    resolve.add_argument("--cache-root", help="cache folder instead of ~/.cache/kafka-sinks-engine")
    resolve.set_defaults(handler=_resolve)
    start = sub.add_parser("start", help="run a broker until Ctrl-C")
    start.add_argument("--dir", help="work directory (data kept); default a temporary one")
    start.add_argument(
        "--port",
        type=int,
        default=0,
        help="PLAINTEXT port; SASL_PLAINTEXT, SASL_SSL and the controller take the next three "
        "(default: free ports)",
    )
    start.add_argument("--authorizer", action="store_true", help="enable the ACL authorizer")
    start.set_defaults(handler=_start)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
