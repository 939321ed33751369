"""One sink's librdkafka producer (see the package docstring for the settings table).

Guarantees:

* ``KafkaProducer.produce`` never loses a message to a full local queue: a
  ``BufferError`` is backpressure, so it serves delivery reports and retries the
  same message until it is queued.
* Every delivery report reaches the caller as ``on_ok(token)`` or
  ``on_error(token, error)`` with an ``engine.specification.errors`` error.
* With a ``transactional.id`` the producer also opens, commits and aborts
  transactions; a newer producer with the same id fences this one (``Fenced``).
* librdkafka's own log lines go to the Python logger ``engine.kafka.<client id>``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from engine.adapters.kafka.auth import authentication_config
from engine.adapters.kafka.errors import (
    BROKEN_CODES,
    CLIENT_LOGGER,
    FENCED_CODES,
    FENCED_TEXT,
    Fenced,
    TransactionAborted,
    classify,
    translate,
)
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.model import Message
from engine.specification.settings import SinkSettings


def producer_config(settings: SinkSettings, *, client_id: str = "kafka-sink") -> dict[str, Any]:
    """librdkafka configuration for one sink (see the module table)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": client_id,
        **authentication_config(settings),
        "compression.type": settings.compression_type.value.lower(),
        "broker.address.family": settings.broker_address_family.value.lower(),
        "reconnect.backoff.max.ms": settings.reconnect_backoff_max_ms,
        "message.send.max.retries": settings.message_send_max_retries,
        "request.timeout.ms": settings.request_timeout_ms,
    }
    # librdkafka rejects a level for the "none" codec only at first use; leave it out.
    if config["compression.type"] != "none":
        config["compression.level"] = settings.compression_level
    if settings.wait_for_broker_ack:
        config["acks"] = "all"
        config["enable.idempotence"] = True
    else:
        config["acks"] = "1"
        config["enable.idempotence"] = False
    return config


class KafkaProducer:
    """One librdkafka producer; delivery reports go to ``on_ok`` / ``on_error``.

    Reports are served by ``poll``/``flush`` on whichever thread calls them.
    """

    def __init__(
        self,
        settings: SinkSettings,
        on_ok: Callable[[int], None],
        on_error: Callable[[int, EngineError], None],
        *,
        client_id: str = "kafka-sink",
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        config = producer_config(settings, client_id=client_id)
        config.update(extra or {})
        self._transactional = "transactional.id" in config
        self._on_ok = on_ok
        self._on_error = on_error
        self._closed = False
        self._errors: list[EngineError] = []
        # Set when this producer cannot deliver anything any more: a fatal error, or
        # credentials/authorisation the broker refuses (librdkafka would otherwise
        # keep retrying until every message times out).
        self.broken: EngineError | None = None
        config["error_cb"] = self._on_client_error
        # librdkafka's own log lines go through Python logging (served by poll), so
        # a running engine writes them in its log format instead of raw to stderr.
        config.setdefault("logger", logging.getLogger(f"{CLIENT_LOGGER}.{client_id}"))
        self._producer: Any
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise PermanentError(f"kafka: invalid producer configuration: {exc}") from exc
        except (ValueError, TypeError) as exc:
            raise PermanentError(f"kafka: invalid producer configuration: {exc}") from exc

    def _on_client_error(self, error: KafkaError) -> None:
        # Client-level errors (all brokers down, authentication) are informative;
        # librdkafka keeps retrying. Only fatal ones make the producer unusable.
        translated = classify(error)
        if self.broken is None and (error.fatal() or error.code() in BROKEN_CODES):
            self.broken = translated
        self._errors.append(translated)
        del self._errors[:-20]  # keep the recent ones only

    def take_client_errors(self) -> list[EngineError]:
        """Client-level errors reported since the last call (oldest first)."""
        errors, self._errors = self._errors, []
        return errors

    def _report(self, token: int, error: KafkaError | None, _msg: Any) -> None:
        if error is None:
            self._on_ok(token)
        else:
            self._on_error(token, classify(error))

    def produce(self, message: Message, token: int) -> None:
        """Queue one message; waits (serving reports) while the local queue is full."""
        callback = partial(self._report, token)
        headers: list[tuple[str, str | bytes | None]] = list(message.headers)
        produce = self._producer.produce
        while True:
            try:
                produce(
                    message.topic,
                    message.value,
                    message.key,
                    headers=headers,
                    timestamp=message.timestamp_ms,
                    on_delivery=callback,
                )
                return
            except BufferError:
                self.poll(0.05)
            except KafkaException as exc:
                raise self._refusal(exc) from exc

    def produce_unreported(self, topic: str, key: bytes, value: bytes) -> None:
        """Queue one record whose report nobody needs (a checkpoint inside a transaction:
        if it fails, so does the commit of the transaction that carries it)."""
        while True:
            try:
                self._producer.produce(topic, value, key)
                return
            except BufferError:
                self.poll(0.05)
            except KafkaException as exc:
                raise self._refusal(exc) from exc

    def _refusal(self, exc: KafkaException) -> EngineError:
        """Why a produce call was refused. After a fatal error librdkafka only says
        ``_FATAL``; the error behind it (a fence, say) reaches ``error_cb``, which the
        poll here serves, so the caller learns ``Fenced`` rather than "fatal error"."""
        error = exc.args[0] if exc.args else None
        if not isinstance(error, KafkaError) or error.code() != KafkaError._FATAL:
            return translate(exc)
        for _ in range(10):  # the report of the fatal error may trail the refusal a little
            with contextlib.suppress(KafkaException):
                self._producer.poll(0.05)
            if self.broken is not None:
                return self.broken
        if self._transactional:
            # A transactional producer in its fatal state answers any transaction call
            # with the error that put it there (e.g. _FENCED), at once.
            try:
                self._producer.abort_transaction(1.0)
            except KafkaException as probe:
                cause = probe.args[0] if probe.args else None
                if isinstance(cause, KafkaError) and cause.code() in FENCED_CODES:
                    return Fenced(f"{FENCED_TEXT} ({cause.name()})")
        return translate(exc)

    def poll(self, timeout: float = 0.0) -> int:
        try:
            return int(self._producer.poll(timeout))
        except KafkaException as exc:
            raise translate(exc) from exc

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for outstanding deliveries; returns how many remain."""
        try:
            return int(self._producer.flush(timeout))
        except KafkaException as exc:
            raise translate(exc) from exc

    def purge_queue(self) -> None:
        """Fail every message not yet sent (reported as purged), so none of them can
        reach the broker after an earlier one failed; sent ones still get reports."""
        with contextlib.suppress(KafkaException):
            self._producer.purge(in_queue=True, in_flight=False, blocking=False)

    # -- transactions (only with a ``transactional.id`` in ``extra``) -----------------

    def init_transactions(self, timeout: float) -> None:
        """Register the transactional id; fences every older producer with that id."""
        self._transaction_call("init_transactions", timeout)

    def begin_transaction(self) -> None:
        self._transaction_call("begin_transaction")

    def commit_transaction(self, timeout: float) -> None:
        """Flush and commit; raises ``TransactionAborted`` when it must be sent again."""
        self._transaction_call("commit_transaction", timeout)

    def abort_transaction(self, timeout: float) -> None:
        self._transaction_call("abort_transaction", timeout)

    def _transaction_call(self, name: str, *args: float) -> None:
        try:
            getattr(self._producer, name)(*args)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, KafkaError):
                raise PermanentError(f"kafka: {name}: {exc}") from exc
            if error.code() in FENCED_CODES or (error.fatal() and "fenced" in error.str()):
                raise Fenced(f"{FENCED_TEXT} ({error.name()})") from exc
            if error.txn_requires_abort():
                raise TransactionAborted(f"kafka: {name}: {error.name()}: {error.str()}") from exc
            if error.retriable() and not error.fatal():
                raise TemporaryError(f"kafka: {name}: {error.name()}: {error.str()}") from exc
            raise classify(error) from exc

    def pending(self) -> int:
        return len(self._producer)

    def close(self, timeout: float = 5.0) -> int:
        """Flush for a bounded time, then let the client go (no more reconnects).

        Messages still queued afterwards are abandoned; returns how many.
        """
        if self._closed:
            return 0
        try:
            remaining = int(self._producer.flush(timeout))
        except KafkaException:
            remaining = len(self._producer)
        self._closed = True
        # Break the cycle client → callbacks → self so the client's threads end now,
        # not whenever the garbage collector gets to it.
        self._producer = _ClosedProducer()
        self._on_ok = _ignore_ok
        self._on_error = _ignore_error
        return remaining


class _ClosedProducer:
    """Stands in for a closed client: nothing queued, nothing to report."""

    def produce(self, *_args: Any, **_kwargs: Any) -> None:
        raise PermanentError("kafka: the producer is closed")

    def abort_transaction(self, *_args: Any) -> None:
        return None

    def poll(self, _timeout: float = 0.0) -> int:
        return 0

    def flush(self, _timeout: float = 0.0) -> int:
        return 0

    def purge(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def __len__(self) -> int:
        return 0


def _ignore_ok(_token: int) -> None:
    """Reports after close are of no interest."""


def _ignore_error(_token: int, _error: EngineError) -> None:
    """Reports after close are of no interest."""
