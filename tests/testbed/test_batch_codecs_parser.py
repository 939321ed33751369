"""Reading codecs out of DumpLogSegments output (a line as Kafka 4.1 prints it)."""

from __future__ import annotations

from engine.testbed.kafka import parse_batch_codecs

DUMP = """\
Dumping /tmp/data/tx-0/00000000000000000000.log
Log starting offset: 0
baseOffset: 0 lastOffset: 4 count: 5 baseSequence: 0 lastSequence: 4 producerId: 0 \
producerEpoch: 0 partitionLeaderEpoch: 0 isTransactional: true isControl: false \
deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1795760320574 size: 105 magic: 2 \
compresscodec: zstd crc: 3307807884 isvalid: true
baseOffset: 5 lastOffset: 5 count: 1 baseSequence: -1 lastSequence: -1 producerId: 0 \
producerEpoch: 0 partitionLeaderEpoch: 0 isTransactional: true isControl: true \
deleteHorizonMs: OptionalLong.empty position: 105 CreateTime: 1795760320821 size: 78 magic: 2 \
compresscodec: none crc: 3664560240 isvalid: true
"""


def test_data_batches_count_and_transaction_markers_do_not() -> None:
    assert parse_batch_codecs(DUMP) == {"zstd"}


def test_no_batches() -> None:
    assert parse_batch_codecs("Dumping x.log\nLog starting offset: 0\n") == set()
