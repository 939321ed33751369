"""Exactly once (``delivery:guarantee: exactlyOnce``): the sink's checkpoint in Kafka.

A sink with this guarantee keeps its checkpoint as a record of the compacted topic
``__sinks-engine.checkpoints``, keyed by the sink's name, written inside each
transaction that carries its messages (``engine.runtime.transactional``). It
guarantees:

* messages and the checkpoint that passes them commit together or not at all, so a
  sink that resumes after its last committed checkpoint sends nothing a
  ``read_committed`` consumer has seen and misses nothing it has not;
* ``KafkaCheckpointStore.load`` first registers the sink's transactional id (which
  fences the previous run of the sink, here or on another machine, and ends its open
  transaction), then reads the last committed checkpoint; reading before fencing
  could miss a commit the previous run was still making;
* without a Kafka checkpoint (a sink switched from ``atLeastOnce``), the KurrentDB
  one is the start: the events since it may be sent twice, once, at the switch;
* ``save`` writes the mirror in ``$connectors/<sink>/checkpoints`` (the connector's
  tooling reads it) after each commit, marked with the topic it mirrors; a failure
  there is reported by the caller and never stops the sink: the Kafka checkpoint is
  the one that counts.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.adapters.kafka import (
    KafkaProducer,
    checkpoint_client_config,
    ensure_checkpoint_topic,
    read_latest_checkpoint,
)
from engine.adapters.kurrentdb import KurrentClient
from engine.runtime.checkpoints import (
    Checkpoint,
    CheckpointStore,
    decode_checkpoint,
    encode_checkpoint,
)
from engine.runtime.tracker import Position
from engine.runtime.transactions import transactional_config, transactional_id
from engine.specification.constants import CHECKPOINT_TOPIC
from engine.specification.errors import EngineError, PermanentError, TemporaryError
from engine.specification.settings import SinkSettings

MIRROR_OF = f"kafka:{CHECKPOINT_TOPIC}"  # metadata of the KurrentDB mirror's events
_READ_TIMEOUT_S = 30.0  # longest wait for open transactions ahead of the checkpoint


def checkpoint_record(sink_name: str) -> Callable[[Position | None], tuple[str, bytes, bytes]]:
    """The (topic, key, value) of the checkpoint record at a position, for one sink."""
    key = sink_name.encode()

    def record(position: Position | None) -> tuple[str, bytes, bytes]:
        return CHECKPOINT_TOPIC, key, encode_checkpoint(Checkpoint(position))

    return record


class KafkaCheckpointStore:
    """Loads a sink's checkpoint from Kafka (after fencing); saves its KurrentDB mirror."""

    def __init__(
        self,
        settings: SinkSettings,
        client: KurrentClient,
        sink_name: str,
        fence: Callable[[], None],
    ) -> None:
        self.sink_name = sink_name
        self._config = checkpoint_client_config(settings)
        self._fence = fence
        self.mirror = CheckpointStore(client, sink_name, mirror_of=MIRROR_OF)

    def load(self) -> Checkpoint | None:
        self._fence()
        ensure_checkpoint_topic(self._config, _READ_TIMEOUT_S)
        value = read_latest_checkpoint(self._config, self.sink_name, _READ_TIMEOUT_S)
        if value is None:
            return self.mirror.load()  # switched from atLeastOnce, or never committed
        return decode_checkpoint(value, f"{CHECKPOINT_TOPIC}[{self.sink_name}]")

    def save(self, checkpoint: Checkpoint) -> None:
        try:
            self.mirror.save(checkpoint)
        except PermanentError as exc:  # never stops the sink (see the module docstring)
            raise TemporaryError(f"mirror in {self.mirror.stream} not written: {exc}") from exc


def reset_in_kafka(
    settings: SinkSettings, prefix: str, sink_name: str, checkpoint: Checkpoint
) -> None:
    """Commit ``checkpoint`` for the sink in Kafka, with the sink's transactional id: a
    copy of the sink still running is fenced and stops at its next send."""
    producer = KafkaProducer(
        settings,
        _ignore_ok,
        _ignore_error,
        client_id="sinks-reset",
        extra=transactional_config(transactional_id(prefix, sink_name)),
    )
    try:
        ensure_checkpoint_topic(checkpoint_client_config(settings), _READ_TIMEOUT_S)
        producer.init_transactions(_READ_TIMEOUT_S)
        producer.begin_transaction()
        producer.produce_unreported(*checkpoint_record(sink_name)(checkpoint.position))
        producer.commit_transaction(_READ_TIMEOUT_S)
    finally:
        producer.close(5.0)


def _ignore_ok(_token: int) -> None:
    """The checkpoint record needs no report: its commit says it all."""


def _ignore_error(_token: int, _error: EngineError) -> None:
    """As above: a failed record fails the commit."""
