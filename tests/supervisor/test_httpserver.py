"""The status server under hostile clients: bounded threads, read timeouts, one line per
failed request, and the bearer token."""

from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from engine.supervisor import httpserver
from engine.supervisor.httpserver import STATUS_WORKERS, is_loopback
from engine.supervisor.metrics import EngineMetrics
from engine.supervisor.status import StatusServer
from tests.supervisor.test_status import Source, view

Start = Callable[..., StatusServer]


@pytest.fixture
def serve() -> Iterator[Start]:
    servers: list[StatusServer] = []

    def start(**kw: object) -> StatusServer:
        server = StatusServer(Source([view("orders")]), EngineMetrics(), "127.0.0.1:0", **kw)
        server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def get(addr: str, path: str, token: str | None = None) -> tuple[int, str, str | None]:
    request = urllib.request.Request(f"http://{addr}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode(), None
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("WWW-Authenticate")


def connect(addr: str) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def status_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("status-http_"))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_many_silent_clients_hold_no_more_than_the_fixed_threads(serve: Start) -> None:
    server = serve()
    before = status_threads()
    silent = [connect(server.address) for _ in range(40)]  # connect, never send a byte
    try:
        wait_until(lambda: status_threads() >= STATUS_WORKERS, 10, "the pool to fill")
        assert status_threads() - before <= STATUS_WORKERS
        assert len([t for t in threading.enumerate() if "status" in t.name]) <= STATUS_WORKERS + 1
    finally:
        for s in silent:
            s.close()
    assert get(server.address, "/healthz")[0] == 200  # served again once they are gone


def test_a_silent_client_is_dropped_after_the_read_timeout(
    serve: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpserver._Handler, "timeout", 0.3)
    server = serve()
    silent = connect(server.address)
    silent.settimeout(10)
    assert silent.recv(1) == b""  # the server closed it: not held for good
    silent.close()


def test_a_client_that_resets_is_one_line_and_no_traceback(
    serve: Start, capfd: pytest.CaptureFixture[str]
) -> None:
    lines: list[str] = []
    server = serve(on_error=lines.append)
    client = connect(server.address)
    client.sendall(b"GET /sinks HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # linger 0: an RST
    for _ in range(3):
        assert get(server.address, "/healthz")[0] == 200
    assert capfd.readouterr().err == ""
    assert len(lines) <= 1 and all("\n" not in line for line in lines)


def test_a_token_is_required_everywhere_but_healthz(serve: Start) -> None:
    server = serve(token="s3cr3t")
    assert get(server.address, "/healthz")[0] == 200
    for path in ("/sinks", "/sinks/orders", "/readyz", "/metrics", "/nowhere"):
        code, body, challenge = get(server.address, path)
        assert (code, challenge) == (401, "Bearer"), path
        assert "s3cr3t" not in body
        assert get(server.address, path, token="wrong")[0] == 401
    assert get(server.address, "/sinks", token="s3cr3t")[0] == 200
    assert get(server.address, "/sinks/orders", token="s3cr3t")[0] == 200


def test_without_a_token_nothing_is_asked(serve: Start) -> None:
    server = serve()
    assert get(server.address, "/sinks")[0] == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("status.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_loopback_bind_is_exposed() -> None:
    server = StatusServer(Source([]), None, "0.0.0.0:0")
    try:
        assert server.exposed
    finally:
        server.stop()
    local = StatusServer(Source([]), None, "127.0.0.1:0")
    try:
        assert not local.exposed
    finally:
        local.stop()


def test_failed_requests_are_counted_in_the_metrics(serve: Start) -> None:
    lines: list[str] = []
    server = serve(on_error=lines.append)
    answer = server._httpd.respond

    def respond(path: str) -> tuple[int, bytes, str]:
        if path == "/boom":
            raise RuntimeError("the answer could not be made")
        return answer(path)

    server._httpd.respond = respond
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        get(server.address, "/boom")
    code, body, _ = get(server.address, "/metrics")
    assert code == 200
    assert "sinks_status_requests_failed_total 1.0" in body.splitlines()
    assert "sinks_status_connections_refused_total 0.0" in body.splitlines()
    assert lines == ["request from 127.0.0.1 failed: RuntimeError: the answer could not be made"]
