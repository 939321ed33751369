"""A consumer that sees each ledger entry once: it reads committed transactions only."""

from confluent_kafka import Consumer

consumer = Consumer(
    {
        "bootstrap.servers": "localhost:9092",
        "group.id": "billing",
        "isolation.level": "read_committed",  # the one setting exactly once needs
        "auto.offset.reset": "earliest",
    }
)
consumer.subscribe(["ledger"])
try:
    while True:
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        print(message.key(), message.value())
finally:
    consumer.close()
