"""A port taken between picking and binding: auto-picked ports move, given ones fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.testbed.kafka import BrokerError, BrokerPorts, KafkaBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def occupied() -> Iterator[socket.socket]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s


def test_auto_picked_ports_move_when_one_is_taken(tmp_path: Path, occupied: socket.socket) -> None:
    broker = KafkaBroker(tmp_path / "kafka", quiet=True)
    taken = occupied.getsockname()[1]
    free = broker.ports
    broker.ports = BrokerPorts(taken, free.sasl_plaintext, free.sasl_ssl, free.controller)
    try:
        broker.start()
        assert broker.ports.plaintext != taken
        assert broker.bootstrap() == f"127.0.0.1:{broker.ports.plaintext}"
        with socket.create_connection(("127.0.0.1", broker.ports.plaintext), timeout=5):
            pass
    finally:
        broker.cleanup()


def test_given_ports_that_are_taken_fail_with_the_broker_log(
    tmp_path: Path, occupied: socket.socket
) -> None:
    taken = occupied.getsockname()[1]
    free = BrokerPorts.free()
    broker = KafkaBroker(
        tmp_path / "kafka",
        ports=BrokerPorts(taken, free.sasl_plaintext, free.sasl_ssl, free.controller),
        quiet=True,
    )
    with pytest.raises(BrokerError, match="could not bind its ports") as failed:
        broker.start()
    assert f"failed to bind to 127.0.0.1:{taken}: Address already in use" in str(failed.value)
    assert not broker.running
