"""A background reader: one subscription drained into a bounded hand-off queue.

The subscription iterator blocks while the sink is caught up, and librdkafka's
delivery reports are only served by whoever polls the producer, so reading
happens on its own thread and the worker thread does everything else. The queue
is a ``deque`` (append/popleft are atomic), bounded by ``capacity``; the reader
sleeps while it is full, and wakes a waiting worker once the batch it asked for
is queued (a busy worker also looks every few milliseconds on its own). A
subscription error is queued as the last item, so the worker sees every record
read before it, in order.

Why two threads and not one: one thread reading, mapping and producing inline (on
grpc's single-threaded path, reports served while it waits for the server) was
measured against this pair with tests/benchmarks/bench_sink.py, interleaved: the
same CPU per event (about 38 µs then) at half the events per second (11-12k vs 23-28k).
On one thread every wait stops everything (the checkpoint append, a full producer
queue, grpc taking replies off the socket only inside ``next()``); the pair
overlaps them: the reader reads on while the worker commits or waits.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from engine.adapters.kurrentdb import Subscription
from engine.specification.model import Record

END = object()  # queued when the subscription ended without an error


class SubscriptionReader:
    def __init__(self, subscription: Subscription, name: str, capacity: int = 20_000) -> None:
        self.items: deque[Any] = deque()
        self._subscription = subscription
        self._capacity = capacity
        self._stopping = False
        self.waiting = False
        self._wake_at = 1  # queued records that end the worker's wait
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sink-read-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        items = self.items
        capacity = self._capacity
        try:
            for item in self._subscription:
                if self._stopping:
                    break
                items.append(item)
                if self.waiting and (len(items) >= self._wake_at or type(item) is not Record):
                    self._wake.set()
                while len(items) >= capacity and not self._stopping:
                    time.sleep(0.002)
            items.append(END)
        except Exception as exc:  # handed to the worker thread, which decides
            items.append(exc)
        self._wake.set()

    def wait(self, timeout: float, *, batch: int = 1) -> None:
        """Sleep until ``batch`` records (or anything else) are queued, or ``timeout``.

        A busy worker asks for a batch: woken per record, it would take one record
        per wake-up and the two threads would trade the interpreter lock per event.
        """
        self._wake_at = batch
        self.waiting = True
        try:
            if not self.items:
                self._wake.wait(timeout)
            self._wake.clear()
        finally:
            self.waiting = False

    def stop(self, join_timeout: float = 5.0) -> None:
        self._stopping = True
        self._subscription.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(join_timeout)
