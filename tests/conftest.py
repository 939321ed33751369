"""Shared pytest set-up: fixtures for the real services live in tests/fixtures/, the
``project`` folder of the command tests in tests/support/project.py."""

pytest_plugins = [
    "tests.fixtures.kafka",
    "tests.fixtures.kurrentdb",
    "tests.support.project",
    "tests.support.failure_logs",
]
