"""The status endpoint's HTTP server: a fixed number of threads, and every client bounded.

Guarantees:

* At most ``STATUS_WORKERS`` requests are served at once, on threads made once; up to
  ``STATUS_BACKLOG`` more connections wait their turn, and any beyond that are closed
  at once (counted), so a crowd of clients costs no more threads than one does.
* A client that sends nothing, or too slowly, is dropped after ``STATUS_READ_TIMEOUT_S``
  of silence: it never holds a thread for good.
* A client that goes away mid-request (a reset, a closed pipe) or sends garbage is one
  line through ``on_error``, never a traceback on stderr (which would break
  ``--log-format json``).
* With a ``token``, every request except ``GET /healthz`` needs ``Authorization: Bearer
  <token>``; without it the answer is 401 (``WWW-Authenticate: Bearer``). The token is
  compared in constant time and never written anywhere.
"""

from __future__ import annotations

import hmac
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from ipaddress import ip_address
from typing import Any

STATUS_WORKERS = 4
STATUS_BACKLOG = 64
STATUS_READ_TIMEOUT_S = 5.0
OPEN_PATHS = frozenset({"/healthz"})  # for liveness probes, which carry no credentials

# (status code, body, content type) for a request path
Responder = Callable[[str], tuple[int, bytes, str]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) stays on this machine."""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _authorised(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


class BoundedHTTPServer(HTTPServer):
    """``HTTPServer`` serving on a fixed pool of threads (see the module's guarantees)."""

    def __init__(
        self,
        address: tuple[str, int],
        respond: Responder,
        *,
        token: str | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.respond = respond
        self.token = token or None
        self.on_error = on_error or (lambda line: None)
        self.refused = 0  # connections closed because the backlog was full
        self.failed = 0  # requests that ended in an error of the client's connection
        self._pool = ThreadPoolExecutor(STATUS_WORKERS, thread_name_prefix="status-http")
        self._waiting = threading.BoundedSemaphore(STATUS_WORKERS + STATUS_BACKLOG)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._waiting.acquire(blocking=False):
            self.refused += 1
            self.shutdown_request(request)
            return
        self._pool.submit(self._serve, request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._waiting.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.failed += 1
        error = sys.exc_info()[1]
        reason = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        self.on_error(f"request from {client_address[0]} failed: {reason}")

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Handler(BaseHTTPRequestHandler):
    server: BoundedHTTPServer
    timeout = STATUS_READ_TIMEOUT_S  # StreamRequestHandler puts it on the socket

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        token = self.server.token
        needed = token is not None and path not in OPEN_PATHS
        if needed and not _authorised(self.headers.get("Authorization"), token or ""):
            body = b'{"error": "this engine requires Authorization: Bearer <token>"}\n'
            self._send(401, body, "application/json", {"WWW-Authenticate": "Bearer"})
            return
        self._send(*self.server.respond(self.path))

    def _send(
        self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are not events of interest
