"""Which delivery pipeline and checkpoint store a sink gets, from its settings and mode.

=====================  ==========================  ==================================
mode                   pipeline                    checkpoint
=====================  ==========================  ==================================
standalone, at least   ``DeliveryPipeline``        ``$connectors/<sink>/checkpoints``
once                                               (expected-version appends)
group, at least once   ``TransactionalPipeline``   the same; transactions of at most
                       (fencing, short             0.25 s, the checkpoint after them
                       transactions)
exactly once (either)  ``TransactionalPipeline``   ``__sinks-engine.checkpoints`` in
                       with a checkpoint record    each transaction; KurrentDB mirror
=====================  ==========================  ==================================

The transactional id is ``sinks-engine.<group or engine id>.<sink>``, so a restarted
or moved sink fences its previous run. The worker sees either pipeline only as a
``Delivery`` (``engine.runtime.delivery_api``): this table is the one place that
knows which sinks have transactions.

``Adapters`` are the outside world a sink is given: how to open its KurrentDB client
and how to make its Kafka producer (the real ones, or fakes in unit tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from engine.adapters.kafka import SINK_CLIENT_PREFIX, KafkaProducer, TopicProvisioner
from engine.adapters.kurrentdb import KurrentClient
from engine.runtime.checkpoints import CheckpointStore, Store
from engine.runtime.delivery import DeliveryPipeline
from engine.runtime.delivery_api import Delivery, ProducerFactory
from engine.runtime.errors_policy import PoisonPolicy
from engine.runtime.exactly_once import KafkaCheckpointStore, checkpoint_record
from engine.runtime.transactional import TransactionalPipeline
from engine.runtime.transactions import transactional_id
from engine.runtime.worker_api import Connections
from engine.specification.settings import SinkSettings


class Adapters(NamedTuple):
    """How a sink reaches KurrentDB (a client for a URL) and Kafka (a producer, and an
    admin client creating topics with ``topics:create``)."""

    kurrentdb: Callable[[str], KurrentClient]
    producer: ProducerFactory
    topics: Callable[..., TopicProvisioner] = TopicProvisioner


REAL_ADAPTERS = Adapters(KurrentClient, KafkaProducer)


def delivery_for(
    name: str,
    settings: SinkSettings,
    connections: Connections,
    client: KurrentClient,
    *,
    capacity: int,
    producer_extra: Mapping[str, Any],
    poison: PoisonPolicy,
    should_stop: Callable[[], bool],
    new_producer: ProducerFactory = KafkaProducer,
) -> tuple[Delivery, Store]:
    """The pipeline and the checkpoint store of sink ``name`` (see the module table)."""
    client_id = SINK_CLIENT_PREFIX + name
    prefix = connections.transactional_prefix
    if settings.exactly_once:
        prefix = connections.exactly_once_prefix
    if prefix is None:
        pipeline = DeliveryPipeline(
            settings,
            client_id=client_id,
            capacity=capacity,
            producer_extra=producer_extra,
            poison=poison,
            new_producer=new_producer,
        )
        return pipeline, CheckpointStore(client, name)
    transactional = TransactionalPipeline(
        settings,
        transactional_id(prefix, name),
        client_id=client_id,
        capacity=capacity,
        producer_extra=producer_extra,
        poison=poison,
        checkpoint_record=checkpoint_record(name) if settings.exactly_once else None,
        should_stop=should_stop,
        new_producer=new_producer,
    )
    if settings.exactly_once:
        return transactional, KafkaCheckpointStore(settings, client, name, transactional.fence)
    return transactional, CheckpointStore(client, name, may_write=connections.lease)
