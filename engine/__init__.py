"""Declarative KurrentDB → Apache Kafka sink engine.

The package is laid out along the path a sink definition travels, as layers that
import only downward (the ``layers`` contract in pyproject.toml keeps it so):

* ``engine.specification`` - errors, the sink model, constants, exit codes, TimeSpans,
  the settings tables and typed settings, names.
* ``engine.sandbox`` - bounded evaluation of user regexes and JavaScript.
* ``engine.config`` - the config source (walk, render, parse with marks, normalise,
  validate, per-file last good), diff, masking.
* ``engine.mapping`` - pure functions from a KurrentDB record to a Kafka message.
* ``engine.adapters`` - the only modules that import the client libraries;
  ``engine.configtest`` beside it runs ``sinks test``.
* ``engine.runtime`` - one sink: worker, delivery tracking, checkpoints, transactions.
* ``engine.supervisor`` - many sinks: plan, supervisor, watcher, status, metrics, and
  group mode (``engine.supervisor.group``); ``engine.testbed`` beside it holds the local
  Kafka broker launcher, the KurrentDB-protocol stand-in and sample events for tests,
  benchmarks, the demo and the sandbox (never a database).
* ``engine.cli`` - the ``sinks`` command.
"""

__version__ = "0.1.0"
