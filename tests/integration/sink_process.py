"""Run one sink in its own process (for kill tests): ``python -m tests.integration.sink_process``.

Arguments: a JSON object ``{"name": ..., "settings": {...}, "url": ...}`` as the only
argument. Prints one JSON status line per 0.2 s on stdout; SIGTERM stops gracefully.
"""

from __future__ import annotations

import json
import signal
import sys
import threading

from engine.runtime.worker import SinkWorker
from engine.runtime.worker_api import Connections
from engine.specification.model import SinkDefinition


def main() -> int:
    spec = json.loads(sys.argv[1])
    worker = SinkWorker(
        SinkDefinition.from_canonical(spec["name"], spec["settings"]),
        Connections(kurrentdb_url=spec["url"]),
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    worker.start()
    while not done.wait(0.2):
        status = worker.status()
        print(
            json.dumps(
                {
                    "state": status.state.value,
                    "read": status.read,
                    "delivered": status.delivered,
                    "checkpoint": status.checkpoint_position,
                }
            ),
            flush=True,
        )
    return 0 if worker.stop(30) else 5


if __name__ == "__main__":
    sys.exit(main())
