"""``sinks demo``: the whole engine end to end on this machine, in under a minute.

It starts a local Apache Kafka broker (jars resolved with Maven on first use) and
the KurrentDB-protocol stand-in (a test/sandbox server, not a database), appends a
small realistic sample (``order-*``, ``customer-*`` and ``payment-*`` streams with
JSON data and metadata), runs the sinks of ``sinks.d/`` through the real engine
(``Supervisor`` + ``SinkWorker``), pointed at those local servers, then prints how
many messages each sink delivered and a few of them read back from Kafka (topic,
partition, offset, key, headers) before stopping everything.

When the folder holds no sinks, three built-in example sinks are written to a
temporary folder and loaded through the same loader as ``sinks run``.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from engine.specification.exitcodes import ExitCode
from engine.specification.model import SinkDefinition

EXAMPLE_SINKS = """\
name: demo-orders
description: Every order event, keyed by order id.
settings:
  instanceTypeName: kafka-sink
  topic: demo-orders
  subscription:
    filter:
      scope: Stream
      filterType: Prefix
      expression: order-
  partitionKeyExtraction:
    enabled: true
    source: StreamSuffix
  defaultHeaders:
    X-Origin: sinks-demo
---
name: demo-customers
description: Customer events, keyed by the metadata's tenant header.
settings:
  instanceTypeName: kafka-sink
  topic: demo-customers
  subscription:filter:scope: Stream
  subscription:filter:filterType: Prefix
  subscription:filter:expression: customer-
  compression:type: Lz4
---
name: demo-payments
description: Only settled payments (a filter on the event type).
settings:
  instanceTypeName: kafka-sink
  topic: demo-payments
  subscription:
    filter:
      scope: Record
      filterType: Regex
      expression: ^PaymentSettled$
"""


def sample_events(orders: int = 12) -> list[tuple[str, list[tuple[str, bytes, bytes]]]]:
    """(stream, [(type, data, metadata)]) for a small shop: orders, customers, payments."""

    def js(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    batches: list[tuple[str, list[tuple[str, bytes, bytes]]]] = []
    for c in range(1, 4):
        customer = f"c{c:03}"
        meta = js({"tenant": "eu-west", "$correlationId": str(uuid.uuid4())})
        batches.append(
            (
                f"customer-{customer}",
                [
                    (
                        "CustomerRegistered",
                        js({"id": customer, "email": f"{customer}@example.com"}),
                        meta,
                    ),
                    ("CustomerVerified", js({"id": customer, "level": "gold"}), meta),
                ],
            )
        )
    for o in range(1, orders + 1):
        order = f"{1000 + o}"
        customer = f"c{(o % 3) + 1:03}"
        meta = js({"tenant": "eu-west", "channel": "web", "$causationId": str(uuid.uuid4())})
        amount = round(19.5 * o, 2)
        batches.append(
            (
                f"order-{order}",
                [
                    (
                        "OrderPlaced",
                        js({"order": order, "customer": customer, "total": amount}),
                        meta,
                    ),
                    ("OrderShipped", js({"order": order, "carrier": "DHL"}), meta),
                ],
            )
        )
        settled = "PaymentSettled" if o % 4 else "PaymentDeclined"
        batches.append(
            (
                f"payment-{order}",
                [
                    ("PaymentAuthorized", js({"order": order, "amount": amount}), meta),
                    (settled, js({"order": order, "amount": amount}), meta),
                ],
            )
        )
    return batches


def point_at(definition: SinkDefinition, bootstrap: str) -> SinkDefinition:
    """The same sink, producing to the local broker without credentials, from the start."""
    canonical = definition.plain_canonical()
    canonical["bootstrapServers"] = bootstrap
    canonical["authentication:securityProtocol"] = "Plaintext"
    for key in ("authentication:username", "authentication:password", "authentication:caFile"):
        canonical.pop(key, None)
    canonical["subscription:initialPosition"] = "Earliest"
    fields = ("explicit", "source_file", "description", "enabled", "labels", "locations")
    kept = {name: getattr(definition, name) for name in fields}
    return SinkDefinition.from_canonical(definition.name, canonical, **kept)


def run_demo(
    sinks_dir: Path,
    *,
    seconds: float = 8.0,
    env: str | None = None,
    kafka_bootstrap: str | None = None,
    kurrentdb_url: str | None = None,
    out: TextIO,
    say: Callable[[str], None] | None = None,
) -> int:
    from engine.config.source import ConfigSource
    from engine.runtime.worker_api import Connections
    from engine.supervisor.supervisor import Supervisor
    from engine.testbed.kafka import KafkaBroker
    from engine.testbed.samples import append_events, read_back
    from engine.testbed.standin import StandIn

    def show(line: str = "") -> None:
        (say or (lambda s: print(s, file=out, flush=True)))(line)

    with tempfile.TemporaryDirectory(prefix="sinks-demo-") as scratch:
        folder = sinks_dir
        load = ConfigSource(folder, env=env).load() if folder.is_dir() else None
        if load is None or not load.definitions:
            folder = Path(scratch) / "sinks.d"
            folder.mkdir()
            (folder / "demo.yaml").write_text(EXAMPLE_SINKS)
            show(f"{sinks_dir} holds no sinks: using three example sinks ({folder}/demo.yaml)")
            load = ConfigSource(folder).load()
        for d in load.diagnostics:
            show(d.format())
        if not load.definitions:
            show("sinks demo: no sink could be loaded")
            return ExitCode.CONFIG
        broker: KafkaBroker | None = None
        standin: StandIn | None = None
        supervisor: Supervisor | None = None
        try:
            if kafka_bootstrap is None:
                show(
                    "starting a local Kafka broker (the first run resolves its jars with Maven)..."
                )
                broker = KafkaBroker(Path(scratch) / "kafka", quiet=True)
                broker.start()
                bootstrap = broker.bootstrap()
            else:
                bootstrap = kafka_bootstrap
            if kurrentdb_url is None:
                standin = StandIn()
                standin.start()
                url = standin.url
                show(f"kafka: {bootstrap}   KurrentDB-protocol stand-in (sample data): {url}")
            else:
                url = kurrentdb_url
                show(f"kafka: {bootstrap}   KurrentDB: {url}")
            desired = {s.name: point_at(s, bootstrap) for s in load.definitions}
            supervisor = Supervisor(Connections(kurrentdb_url=url), start_grace=10.0)
            applied = supervisor.apply(desired)
            names = [v.name for v in supervisor.views() if v.enabled]
            show(f"started {len(names)} sink(s): {', '.join(names)}")
            for name in applied.failed_to_start:
                show(f"{name}: could not start (see its last error below)")
            appended = 0
            for stream, events in sample_events():
                append_events(url, stream, events)
                appended += len(events)
            show(f"appended {appended} events to order-*, customer-* and payment-* streams")
            _wait_until_quiet(supervisor, seconds)
            views = supervisor.views()
            show()
            show(f"{'SINK':<22} {'STATE':<10} {'DELIVERED':>9} {'FAILED':>6}  TOPIC")
            topics: dict[str, str] = {}
            definitions = supervisor.definitions()
            for v in views:
                topic = definitions[v.name].settings.topic
                topics[v.name] = topic
                show(f"{v.name:<22} {v.state:<10} {v.delivered:>9} {v.failed:>6}  {topic}")
                if v.last_error:
                    show(f"  last error: {v.last_error}")
            delivered = sum(v.delivered for v in views)
            for v in views:
                if v.delivered == 0:
                    continue
                show()
                show(f"a few messages of {topics[v.name]}:")
                for m in read_back(bootstrap, topics[v.name], 3, timeout=15.0):
                    key = m.key.decode(errors="replace") if m.key is not None else "(none)"
                    show(f"  {m.topic} partition={m.partition} offset={m.offset} key={key}")
                    shown = ", ".join(
                        f"{h}={v.decode(errors='replace')[:40]}" for h, v in m.headers[:5]
                    )
                    more = len(m.headers) - 5
                    show(f"    headers: {shown}" + (f", +{more} more" if more > 0 else ""))
                    show(f"    value: {(m.value or b'').decode(errors='replace')[:100]}")
            show()
            if delivered == 0:
                show("sinks demo: no message was delivered")
                return ExitCode.CONFIG
            show(f"delivered {delivered} message(s) in total; stopping.")
            return ExitCode.OK
        finally:
            if supervisor is not None:
                supervisor.shutdown(15.0)
            if standin is not None:
                standin.stop()
            if broker is not None:
                broker.cleanup()


def _wait_until_quiet(supervisor: Any, seconds: float) -> None:
    """Until delivered counts stop moving for a second, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    last: tuple[int, ...] = ()
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        now = tuple(v.delivered for v in supervisor.views())
        if now != last:
            last, still_since = now, time.monotonic()
        elif any(now) and time.monotonic() - still_since >= 1.0:
            return
        time.sleep(0.1)
