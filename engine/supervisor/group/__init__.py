"""Cluster mode: engine processes sharing the sinks through a Kafka consumer group."""
