"""The checkpoint topic against the real broker (or KAFKA_BOOTSTRAP's): created compacted,
read back as the last committed value per key, never an aborted one, and never a stale
one while another producer's transaction holds the last stable offset back."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import IsolationLevel, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource, OffsetSpec

from engine.adapters.kafka import (
    checkpoint_client_config,
    checkpoints,
    ensure_checkpoint_topic,
    read_latest_checkpoint,
)
from engine.specification.errors import PermanentError, TemporaryError
from engine.specification.settings import SinkSettings
from tests.fixtures.kafka import KafkaService

pytestmark = pytest.mark.integration
TIMEOUT = 30.0


class TransactionalProducer:
    """One transactional producer, as one sink's would be."""

    def __init__(self, kafka: KafkaService, topic: str) -> None:
        self.topic = topic
        self.producer = Producer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "transactional.id": f"checkpoints-test-{uuid.uuid4().hex}",
            }
        )
        self.producer.init_transactions(TIMEOUT)
        self.open = False

    def begin(self, *records: tuple[str, bytes | None]) -> None:
        """Open a transaction and put ``records`` on the broker, leaving it open."""
        self.producer.begin_transaction()
        self.open = True
        for key, value in records:
            self.producer.produce(self.topic, value, key.encode())
        assert self.producer.flush(TIMEOUT) == 0

    def commit(self, *records: tuple[str, bytes | None]) -> None:
        if records:
            self.begin(*records)
        self.producer.commit_transaction(TIMEOUT)
        self.open = False

    def abort(self, *records: tuple[str, bytes | None]) -> None:
        if records:
            self.begin(*records)
        self.producer.abort_transaction(TIMEOUT)
        self.open = False

    def close(self) -> None:
        if self.open:
            self.producer.abort_transaction(TIMEOUT)


@pytest.fixture
def config(kafka_broker: KafkaService) -> dict[str, Any]:
    settings = SinkSettings.from_canonical(
        {"topic": "t", "bootstrapServers": kafka_broker.bootstrap}
    )
    return checkpoint_client_config(settings)


@pytest.fixture
def writers() -> Iterator[list[TransactionalProducer]]:
    """The producers a test makes; an open transaction left behind is aborted."""
    made: list[TransactionalProducer] = []
    yield made
    for writer in made:
        writer.close()


def writer(
    kafka: KafkaService, topic: str, made: list[TransactionalProducer]
) -> TransactionalProducer:
    made.append(TransactionalProducer(kafka, topic))
    return made[-1]


def end_offset(kafka: KafkaService, topic: str, isolation: Any) -> int:
    request = {TopicPartition(topic, 0): OffsetSpec.latest()}
    futures = kafka.admin().list_offsets(request, isolation_level=isolation)
    return int(next(iter(futures.values())).result().offset)


def wait_end(kafka: KafkaService, topic: str, offset: int) -> None:
    """Wait until the partition ends at ``offset`` (a commit's marker is written after
    commit_transaction returns), so the records that follow have known offsets."""
    deadline = time.monotonic() + TIMEOUT
    while end_offset(kafka, topic, IsolationLevel.READ_UNCOMMITTED) != offset:
        assert time.monotonic() < deadline, f"{topic} does not end at {offset}"
        time.sleep(0.05)


def read(config: dict[str, Any], key: str, topic: str, timeout: float = TIMEOUT) -> bytes | None:
    return read_latest_checkpoint(config, key, timeout, topic=topic)


def test_the_topic_is_created_compacted_with_one_partition(
    kafka_broker: KafkaService, config: dict[str, Any], topic: str
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)  # exists: accepted as it is
    meta = kafka_broker.admin().list_topics(topic, timeout=10).topics[topic]
    assert len(meta.partitions) == 1
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = kafka_broker.admin().describe_configs([resource])[resource].result()
    assert {k: entries[k].value for k in ("cleanup.policy", "segment.ms")} == {
        "cleanup.policy": "compact",
        "segment.ms": "600000",
    }
    assert float(entries["min.cleanable.dirty.ratio"].value) == 0.1


def test_a_key_never_committed_reads_none(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    assert read(config, "orders", topic) is None  # empty topic
    writer(kafka_broker, topic, writers).commit(("payments", b"p1"), ("refunds", b"r1"))
    assert read(config, "orders", topic) is None
    assert read(config, "payments", topic) == b"p1"


def test_the_last_committed_value_of_the_key_wins(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    orders, payments = writer(kafka_broker, topic, writers), writer(kafka_broker, topic, writers)
    for n in range(1, 4):
        orders.commit(("orders", f"o{n}".encode()))
        payments.commit(("payments", f"p{n}".encode()), ("refunds", f"r{n}".encode()))
    orders.commit(("orders", b"o4"), ("orders", b"o5"))  # two in one transaction
    assert read(config, "orders", topic) == b"o5"
    assert read(config, "payments", topic) == b"p3"
    assert read(config, "refunds", topic) == b"r3"


def test_a_head_of_many_records_is_read_to_its_end(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    orders, payments = writer(kafka_broker, topic, writers), writer(kafka_broker, topic, writers)
    orders.commit(*[("orders", f"o{n}".encode()) for n in range(2500)])
    payments.commit(*[("payments", f"p{n}".encode()) for n in range(2500)])
    assert read(config, "orders", topic) == b"o2499"
    assert read(config, "payments", topic) == b"p2499"


def test_a_tombstone_reads_none(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    orders = writer(kafka_broker, topic, writers)
    orders.commit(("orders", b"o1"))
    orders.commit(("orders", None))
    assert read(config, "orders", topic) is None


def test_a_value_of_an_aborted_transaction_is_never_returned(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    orders, other = writer(kafka_broker, topic, writers), writer(kafka_broker, topic, writers)
    orders.commit(("orders", b"o1"))
    orders.abort(("orders", b"o2"))
    other.abort(("payments", b"p1"), ("orders", b"stray"))
    assert read(config, "orders", topic) == b"o1"
    assert read(config, "payments", topic) is None


def other_transaction_open_before_our_commit(
    kafka: KafkaService, topic: str, writers: list[TransactionalProducer]
) -> TransactionalProducer:
    """orders commits o1; payments opens a transaction; orders commits o2 after it.

    Offsets: 0 o1, 1 marker, 2 payments' open record, 3 o2, 4 marker. The last stable
    offset stays at 2 while payments' transaction is open, below orders' o2.
    """
    orders, payments = writer(kafka, topic, writers), writer(kafka, topic, writers)
    orders.commit(("orders", b"o1"))
    wait_end(kafka, topic, 2)
    payments.begin(("payments", b"p1"))
    wait_end(kafka, topic, 3)
    orders.commit(("orders", b"o2"))
    wait_end(kafka, topic, 5)
    # The situation a naive read_committed scan gets wrong: o2 lies past the stable end.
    assert end_offset(kafka, topic, IsolationLevel.READ_COMMITTED) == 2
    return payments


def test_an_open_transaction_of_another_producer_is_waited_for(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    payments = other_transaction_open_before_our_commit(kafka_broker, topic, writers)
    # payments commits only once the read has taken its end offsets and is consuming,
    # so a read that stopped at the stable end would have returned o1.
    scanning = threading.Event()
    scan = checkpoints._scan

    def signalling_scan(*args: Any) -> tuple[bytes | None, int]:
        scanning.set()
        return scan(*args)

    monkeypatch.setattr(checkpoints, "_scan", signalling_scan)

    def commit_later() -> None:
        assert scanning.wait(TIMEOUT)
        time.sleep(0.5)  # let the consumer sit at the stable end
        payments.commit()

    committer = threading.Thread(target=commit_later)
    committer.start()
    try:
        assert read(config, "orders", topic) == b"o2"
    finally:
        committer.join()
    assert read(config, "payments", topic) == b"p1"


def test_a_transaction_that_stays_open_is_a_temporary_error(
    kafka_broker: KafkaService,
    config: dict[str, Any],
    topic: str,
    writers: list[TransactionalProducer],
) -> None:
    ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    payments = other_transaction_open_before_our_commit(kafka_broker, topic, writers)
    with pytest.raises(TemporaryError) as caught:
        read(config, "orders", topic, timeout=2)
    assert str(caught.value) == (
        f"kafka: checkpoint topic '{topic}': read_committed reached offset 2, not the end 5 "
        "seen when the read began, within 2s: another producer's transaction is still open "
        "at offset 2; try again (the broker aborts an abandoned transaction after its "
        "transaction.timeout.ms)"
    )
    payments.abort()
    assert read(config, "orders", topic) == b"o2"
    assert read(config, "payments", topic) is None


@pytest.mark.parametrize("policy", ["delete", "compact,delete"])
def test_a_topic_that_deletes_checkpoints_is_refused(
    kafka_broker: KafkaService, config: dict[str, Any], topic: str, policy: str
) -> None:
    kafka_broker.create_topic(topic, config={"cleanup.policy": policy})
    with pytest.raises(PermanentError) as caught:
        ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    assert str(caught.value) == (
        f"kafka: checkpoint topic '{topic}' has cleanup.policy={policy}; exactly-once needs "
        "cleanup.policy=compact (any other policy deletes checkpoints)"
    )


def test_a_topic_with_several_partitions_is_refused(
    kafka_broker: KafkaService, config: dict[str, Any], topic: str
) -> None:
    kafka_broker.create_topic(topic, partitions=3, config={"cleanup.policy": "compact"})
    with pytest.raises(PermanentError) as caught:
        ensure_checkpoint_topic(config, TIMEOUT, topic=topic)
    assert str(caught.value) == (
        f"kafka: checkpoint topic '{topic}' has 3 partitions; exactly-once needs it with "
        "1 partition"
    )


def test_reading_a_topic_that_does_not_exist_is_permanent(
    config: dict[str, Any], topic: str
) -> None:
    with pytest.raises(PermanentError) as caught:
        read(config, "orders", topic)
    assert str(caught.value) == f"kafka: offsets of '{topic}': the topic does not exist"


def test_through_the_sinks_sasl_ssl_authentication(
    kafka_broker: KafkaService, topic: str, writers: list[TransactionalProducer]
) -> None:
    bootstrap = kafka_broker.bootstrap_for("SASL_SSL")  # skips when not offered
    user, password = kafka_broker.credentials("SCRAM-SHA-512")
    settings = {
        "topic": "t",
        "bootstrapServers": bootstrap,
        "authentication:securityProtocol": "SaslSsl",
        "authentication:saslMechanism": "ScramSha512",
        "authentication:username": user,
        "authentication:password": password,
    }
    if kafka_broker.ca_file is not None:
        settings["authentication:caFile"] = str(kafka_broker.ca_file)
    secure = checkpoint_client_config(SinkSettings.from_canonical(settings))
    ensure_checkpoint_topic(secure, TIMEOUT, topic=topic)
    writer(kafka_broker, topic, writers).commit(("orders", b"o1"))
    assert read(secure, "orders", topic) == b"o1"
