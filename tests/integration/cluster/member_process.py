"""One group member in its own process, owning sinks without running them.

``python -m tests.integration.cluster.member_process BOOTSTRAP GROUP SESSION_MS SINK...``
prints one JSON line per ownership event on stdout (``acquired`` / ``released`` with
the sinks and reason, ``lease`` when the lease turns valid or invalid, ``ready`` once
joined) and leaves the group on SIGTERM. Releasing takes 0.3 s, standing in for a
sink's flush and final checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from engine.specification.connection import ClusterConnection
from engine.supervisor.group.membership import Membership, ReleaseReason


def emit(event: str, **fields: object) -> None:
    # One write of the whole line: emit runs on the membership thread and in the SIGCONT
    # handler, and print() writes the text and its newline apart, so a handler that ran
    # in between once put two events on one line.
    line = json.dumps({"t": time.time(), "event": event, **fields}) + "\n"
    os.write(sys.stdout.fileno(), line.encode())


class Listener:
    def acquired(self, sinks: frozenset[str]) -> None:
        emit("acquired", sinks=sorted(sinks))

    def released(self, sinks: frozenset[str], reason: ReleaseReason) -> None:
        emit("releasing", sinks=sorted(sinks), reason=reason.value)
        # Releasing takes a while on purpose, as stopping sinks does: the tests show
        # that the member holds the group's rebalance until it has returned.
        time.sleep(0.3)
        emit("released", sinks=sorted(sinks), reason=reason.value)


def main() -> int:
    bootstrap, group, session_ms, *sinks = sys.argv[1:]
    membership = Membership(
        ClusterConnection(bootstrap=bootstrap, session_timeout_ms=int(session_ms)),
        group,
        Listener(),
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    # The first thing this process says after a freeze: is its lease still good?
    signal.signal(signal.SIGCONT, lambda *_: emit("woke", lease_valid=membership.lease_valid()))
    membership.want(sinks)
    membership.start()
    emit("ready")
    valid = False
    while not done.wait(0.02):
        now_valid = membership.lease_valid()
        if now_valid != valid:
            valid = now_valid
            stats = membership.stats()
            emit("lease", valid=valid, generation=stats.generation, member=stats.member_id)
    membership.stop()
    emit("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
