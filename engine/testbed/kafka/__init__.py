"""A local, real Apache Kafka broker (KRaft) for tests, benchmarks and the sandbox.

``resolve_jars()`` fetches the pinned Kafka release once with Maven into a user
cache; ``KafkaBroker`` runs it as one JVM on loopback with PLAINTEXT,
SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and SASL_SSL listeners.
Nothing here imports a Kafka client library: readiness is judged from the
broker's own log and its listening sockets.
"""

from engine.testbed.kafka.broker import BrokerError, KafkaBroker, parse_batch_codecs
from engine.testbed.kafka.config import USERS, BrokerPorts, Listener
from engine.testbed.kafka.jars import KAFKA_VERSION, JarResolutionError, resolve_jars

__all__ = [
    "KAFKA_VERSION",
    "USERS",
    "BrokerError",
    "BrokerPorts",
    "JarResolutionError",
    "KafkaBroker",
    "Listener",
    "parse_batch_codecs",
    "resolve_jars",
]
