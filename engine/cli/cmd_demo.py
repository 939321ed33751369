"""``sinks demo``: run the sinks against a local Kafka broker and a sample event store."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.cli import preflight
from engine.specification.constants import DEFAULT_SINKS_DIR, KURRENTDB_URL_VARIABLE


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "demo",
        help="see the engine work end to end on this machine",
        description="Start a local Kafka broker and a KurrentDB-protocol stand-in, append "
        "sample orders/customers/payments events, run the sinks of sinks.d/ against them "
        "for a few seconds and show what was delivered. Nothing outside this machine is "
        "touched.",
    )
    p.add_argument(
        "--dir", default=DEFAULT_SINKS_DIR, help="folder of sink files (default: %(default)s)"
    )
    p.add_argument("--env", help="environment whose values are rendered into templates")
    p.add_argument(
        "--seconds", type=float, default=10.0, help="longest wait for deliveries (default 10)"
    )
    p.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="use this Kafka instead of starting a local broker"
    )
    p.add_argument(
        "--kurrentdb",
        metavar="URL",
        help="use this KurrentDB (default: $KURRENTDB_URL, else a local stand-in)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import logging

    preflight.check()
    from engine.cli.demo import run_demo
    from engine.runtime.gc_tuning import tune_collector
    from engine.supervisor.logs import route_client_logs, stderr_log

    tune_collector()
    # The tour starts producing seconds after the broker came up, when librdkafka
    # warns that the broker is still loading; only the Kafka client's errors show.
    route_client_logs(stderr_log(), level=logging.ERROR)

    return run_demo(
        Path(args.dir),
        seconds=args.seconds,
        env=args.env,
        kafka_bootstrap=args.kafka,
        kurrentdb_url=args.kurrentdb or os.environ.get(KURRENTDB_URL_VARIABLE) or None,
        out=sys.stdout,
    )
