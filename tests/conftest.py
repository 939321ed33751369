"""Shared pytest set-up: fixtures for the real services live in tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.kurrentdb",
]
