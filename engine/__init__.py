"""Declarative KurrentDB → Apache Kafka sink engine.

The package is laid out along the path a sink definition travels:

* ``engine.config``   - settings tables, generated JSON Schema, loader (render, parse with
  marks, normalise, validate), diff.
* ``engine.mapping``  - pure functions from a KurrentDB record to a Kafka message
  (filters, partition keys, headers, transformer).
* ``engine.adapters`` - the only modules that import the client libraries
  (``kurrentdb`` → esdbclient, ``kafka`` → confluent_kafka).
* ``engine.runtime``  - one sink: worker thread, delivery tracking, checkpoints.
* ``engine.supervisor`` - many sinks: plan, supervisor, watcher, status and metrics.
* ``engine.cli``      - the ``sinks`` command.
* ``engine.testbed``  - local Apache Kafka broker launcher and the KurrentDB-protocol
  stand-in used by tests, benchmarks and the sandbox (never a database).
"""

__version__ = "0.1.0"
