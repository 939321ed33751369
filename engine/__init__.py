"""Declarative KurrentDB → Apache Kafka sink engine.

The package is laid out along the path a sink definition travels:

* ``engine.config``   - settings tables, generated JSON Schema, the config source (walk,
  render, parse with marks, normalise, validate, per-file last good), diff.
* ``engine.mapping``  - pure functions from a KurrentDB record to a Kafka message
  (filters, partition keys, headers, transformer).
* ``engine.adapters`` - the only modules that import the client libraries
  (``kurrentdb`` → esdbclient or kurrentdbclient, ``kafka`` → confluent_kafka).
* ``engine.runtime``  - one sink: worker thread, delivery tracking, checkpoints.
* ``engine.supervisor`` - many sinks: plan, supervisor, watcher, status and metrics.
* ``engine.cli``      - the ``sinks`` command.
* ``engine.testbed``  - local Apache Kafka broker launcher, the KurrentDB-protocol
  stand-in and sample events in / messages back used by tests, benchmarks, the demo
  and the sandbox (never a database).
"""

__version__ = "0.1.0"
