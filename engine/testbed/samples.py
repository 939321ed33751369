"""Sample events in, messages back out: what ``sinks demo`` and the tests use to look.

Nothing on a sink's path imports this module: the engine reads KurrentDB through
``engine.adapters.kurrentdb`` and produces through ``engine.adapters.kafka`` only.
Client errors are translated as the adapters translate them (``TemporaryError`` /
``PermanentError``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException

from engine.adapters.kafka import ReadBack, classify
from engine.adapters.kurrentdb import KurrentClient
from engine.specification.errors import EngineError, PermanentError


def append_events(url: str, stream: str, events: list[tuple[str, bytes, bytes]]) -> int:
    """Append ``(event_type, json_data, json_metadata)`` events to ``stream``, any version.

    Returns the commit position of the last one.
    """
    client = KurrentClient(url)
    try:
        return client.append_any(stream, events)
    finally:
        client.close()


def read_back(bootstrap: str, topic: str, count: int, timeout: float = 10.0) -> list[ReadBack]:
    """Up to ``count`` messages of ``topic`` from its beginning (a throwaway consumer group)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"sinks-read-back-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    found: list[ReadBack] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            raw: list[Any] = list(msg.headers() or [])
            headers = tuple((str(h[0]), bytes(h[1] or b"")) for h in raw)
            found.append(
                ReadBack(
                    msg.topic() or topic,
                    msg.partition() or 0,
                    msg.offset() or 0,
                    msg.key(),
                    msg.value(),
                    headers,
                    msg.timestamp()[1],
                )
            )
    except KafkaException as exc:
        raise _translated(exc) from exc
    finally:
        consumer.close()
    return found


def _translated(exc: KafkaException) -> EngineError:
    error = exc.args[0] if exc.args else None
    if isinstance(error, KafkaError):
        return classify(error)
    return PermanentError(f"kafka: {exc}")
