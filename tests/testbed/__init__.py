"""Tests of the test bed: the Kafka broker launcher and the sandbox."""
