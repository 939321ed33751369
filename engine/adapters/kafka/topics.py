"""Topic provisioning (``topics:create``): the topics a sink writes to, created on first use.

Guarantees:

* ``TopicProvisioner.ensure(topic)`` acts once per topic per sink run: the first call
  creates the topic through the admin client with ``topics:partitions``,
  ``topics:replicationFactor`` (-1: the broker's default) and ``topics:config``; every
  later call for that topic is a set lookup.
* A topic that exists is never changed. When its partition count, replication factor
  or a ``topics:config`` entry differs from the settings, ``report`` is called once
  with ``TOPIC_DIFFERS`` and a text naming each difference.
* A topic that cannot be created (not authorised, a policy, an invalid setting, no
  broker within the request timeout) is reported once with ``TOPIC_NOT_CREATED``; the
  sink goes on producing, and the producer's own errors decide what happens next
  (a missing topic is retried, never a poison event).
* ``report`` gets (kind, reason) with kind one of the two names above; it is called on
  the thread that called ``ensure``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
)

from engine.adapters.kafka.auth import authentication_config
from engine.adapters.kafka.errors import CLIENT_LOGGER
from engine.specification.settings import SinkSettings

TOPIC_DIFFERS = "topic_differs"
TOPIC_NOT_CREATED = "topic_not_created"

Report = Callable[[str, str], None]


class TopicProvisioner:
    def __init__(
        self, settings: SinkSettings, report: Report, *, client_id: str = "kafka-sink-admin"
    ) -> None:
        self._partitions = settings.topic_partitions
        self._replication = settings.topic_replication_factor
        self._config = dict(settings.topic_config)
        self._timeout_s = settings.request_timeout_ms / 1000
        self._report = report
        self._done: set[str] = set()
        config: dict[str, Any] = {
            "bootstrap.servers": settings.bootstrap_servers,
            "client.id": client_id,
            **authentication_config(settings),
            "logger": logging.getLogger(f"{CLIENT_LOGGER}.{client_id}"),
        }
        self._admin = AdminClient(config)

    def ensure(self, topic: str) -> None:
        if topic in self._done:
            return
        self._done.add(topic)  # once per run, whatever comes of it
        new = NewTopic(
            topic,
            num_partitions=self._partitions,
            replication_factor=self._replication,
            config=self._config,
        )
        timeout = self._timeout_s
        futures = self._admin.create_topics(
            [new], operation_timeout=timeout, request_timeout=timeout
        )
        try:
            futures[topic].result(timeout=timeout + 5)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                self._compare(topic)
                return
            reason = error.str() if isinstance(error, KafkaError) else str(exc)
            name = error.name() if isinstance(error, KafkaError) else "error"
            self._report(TOPIC_NOT_CREATED, f"topic {topic!r} was not created: {name}: {reason}")
        except Exception as exc:  # a timeout of the future itself
            self._report(TOPIC_NOT_CREATED, f"topic {topic!r} was not created: {exc!r}")

    def _compare(self, topic: str) -> None:
        differences = []
        try:
            found = self._admin.list_topics(topic, timeout=self._timeout_s).topics.get(topic)
            if found is not None and found.partitions:
                partitions = len(found.partitions)
                replicas = len(next(iter(found.partitions.values())).replicas)
                if self._partitions > 0 and partitions != self._partitions:
                    differences.append(
                        f"{partitions} partition(s), not {self._partitions} (topics:partitions)"
                    )
                if self._replication > 0 and replicas != self._replication:
                    differences.append(
                        f"replication factor {replicas}, not {self._replication} "
                        "(topics:replicationFactor)"
                    )
            if self._config:
                differences += self._config_differences(topic)
        except KafkaException as exc:
            self._report(
                TOPIC_DIFFERS, f"topic {topic!r} exists; its settings could not be read: {exc}"
            )
            return
        if differences:
            self._report(
                TOPIC_DIFFERS,
                f"topic {topic!r} exists with " + "; ".join(differences) + ": it is left as it is",
            )

    def _config_differences(self, topic: str) -> list[str]:
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        described = self._admin.describe_configs([resource], request_timeout=self._timeout_s)
        entries: Mapping[str, Any] = described[resource].result(timeout=self._timeout_s + 5)
        out = []
        for key, wanted in sorted(self._config.items()):
            entry = entries.get(key)
            actual = None if entry is None else entry.value
            if actual != wanted:
                out.append(f"{key}={actual!r}, not {wanted!r} (topics:config)")
        return out
