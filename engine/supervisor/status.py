"""Status and metrics over HTTP (stdlib ``http.server`` in a daemon thread).

Endpoints (JSON unless said otherwise):

* ``GET /sinks``: every sink's view plus the last reload result; in cluster mode
  every sink of the group, each with its ``owner`` (member id, host, pid), and a
  ``group`` object (name, this member, generation, rebalances).
* ``GET /sinks/<name>``: one sink: state, definition digest, source file, last
  delivered position, lag to the head of ``$all``, ``caught_up``, delivered/failed counts, last
  error, the issues of its file while that file is rejected, and the last reload
  result with its issues as compiler-style lines. 404 for an unknown name.
* ``GET /healthz``: 200 while the process serves requests.
* ``GET /readyz``: 200 when every enabled sink this process runs is RUNNING (in
  cluster mode a member that owns nothing is ready), else 503 with the
  sinks that are not (ACTIVATING, BACKOFF, DEACTIVATING, STOPPED, FAILED). A sink
  whose brokers are unreachable stays RUNNING (the producer keeps reconnecting and
  nothing is lost): ``/sinks/<name>`` shows it in ``dependencies_lost``, with the
  broker error as ``last_error`` and ``last_error_since``.
* ``GET /metrics``: Prometheus text format.

With a token (``sinks run --status-token``, or ``SINKS_STATUS_TOKEN``) every endpoint
but ``/healthz`` needs ``Authorization: Bearer <token>``. The server runs on a fixed
pool of threads with a read timeout per client (``engine.supervisor.httpserver``).

The head of ``$all`` is read by a background poller every ``head_interval``
seconds, never per request, so scraping cannot load KurrentDB. Lag is that head
minus the sink's last delivered position (else its checkpoint), in commit-position
units (null while the head cannot be read): it counts every later event of ``$all``,
including those the sink's filter skips, so it is an upper bound of what the sink
still has to read. A sink that is ``caught_up`` (its subscription went live and
nothing it read is waiting or in flight) shows lag 0: whatever lies beyond its
position is not for it, or is its own checkpoints. The server binds to loopback by
default (127.0.0.1:7781).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from urllib.parse import unquote

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.config.secretbook import SecretBook
from engine.runtime.worker_api import SinkState
from engine.specification.constants import DEFAULT_STATUS_ADDR
from engine.supervisor.httpserver import BoundedHTTPServer, is_loopback
from engine.supervisor.metrics import CONTENT_TYPE, EngineMetrics
from engine.supervisor.results import ReloadResult, SinkView


class SinkSource(Protocol):
    """What the server reads: the reloader (its supervisor's views and its last reload)."""

    def views(self) -> list[SinkView]: ...

    @property
    def last_reload(self) -> ReloadResult | None: ...


def parse_addr(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {text!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class HeadPoller:
    """Keeps the latest head position of $all, refreshed in the background."""

    def __init__(self, read_head: Callable[[], int], interval: float = 5.0) -> None:
        self._read_head = read_head
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.position: int | None = None
        self.error: str | None = None
        self.on_refresh: Callable[[int | None], None] | None = None

    def refresh(self) -> None:
        try:
            self.position = self._read_head()
            self.error = None
        except Exception as exc:  # a dead server must not kill the poller; report it
            self.position = None  # unknown now: lag shows null, never an old figure
            self.error = str(exc)
        if self.on_refresh is not None:
            self.on_refresh(self.position)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                self.refresh()
                self._stop.wait(self._interval)

        self._thread = threading.Thread(target=loop, name="head-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def kurrentdb_head_reader(url: str) -> Callable[[], int]:
    """A head reader keeping one client open (imports the adapter lazily)."""
    from engine.adapters.kurrentdb import KurrentClient

    client = KurrentClient(url)
    return client.head_position


class _ServerCollector(Collector):
    """The status server's own failures, beside the sinks' metrics."""

    def __init__(self, httpd: BoundedHTTPServer) -> None:
        self._httpd = httpd

    def collect(self) -> Iterator[Metric]:
        failed = CounterMetricFamily(
            "sinks_status_requests_failed",
            "Status requests that ended in an error of the client's connection (a reset, "
            "a closed pipe) or of the server.",
        )
        failed.add_metric([], self._httpd.failed)
        refused = CounterMetricFamily(
            "sinks_status_connections_refused",
            "Status connections closed at once because every thread and waiting place was taken.",
        )
        refused.add_metric([], self._httpd.refused)
        yield from (failed, refused)


class StatusServer:
    def __init__(
        self,
        source: SinkSource,
        metrics: EngineMetrics | None = None,
        addr: str = DEFAULT_STATUS_ADDR,
        head: HeadPoller | None = None,
        group: Callable[[], dict[str, Any]] | None = None,
        *,
        token: str | None = None,
        on_error: Callable[[str], None] | None = None,
        secrets: SecretBook | None = None,
    ) -> None:
        self.secrets = secrets  # every answer is masked with it, as values
        self.source = source
        self.metrics = metrics
        self.head = head
        self.group = group
        host, port = parse_addr(addr)
        self.exposed = not is_loopback(host)  # reachable from other machines
        self._httpd = BoundedHTTPServer((host, port), self.respond, token=token, on_error=on_error)
        self._thread: threading.Thread | None = None
        if metrics is not None:
            metrics.registry.register(_ServerCollector(self._httpd))
        if head is not None and metrics is not None:
            head.on_refresh = self._publish_lag

    @property
    def address(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        if self.head is not None:
            self.head.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="status-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self.head is not None:
            self.head.stop()
        if self._thread is not None:  # shutdown() waits for a serve loop that must exist
            self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _head_position(self) -> int | None:
        return self.head.position if self.head is not None else None

    def _publish_lag(self, head: int | None) -> None:
        if self.metrics is None:
            return
        views = self.source.views()
        self.metrics.set_lag({v.name: v.to_json(head)["lag"] for v in views})
        self.metrics.forget({v.name for v in views})

    # ----------------------------------------------------------------- routing
    def respond(self, raw_path: str) -> tuple[int, bytes, str]:
        code, body, ctype = self._route(raw_path)
        if self.secrets and ctype == "application/json":
            body = json.dumps(self.secrets.mask_value(json.loads(body)), indent=1).encode() + b"\n"
        return code, body, ctype

    def _route(self, raw_path: str) -> tuple[int, bytes, str]:
        path = raw_path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/healthz":
            return _json(200, {"status": "ok"})
        if path == "/readyz":
            # Only what this process runs decides its readiness (in cluster mode the
            # other members' sinks are listed too).
            views = [v for v in self.source.views() if v.enabled and v.local]
            waiting = {v.name: v.state for v in views if v.state != SinkState.RUNNING.value}
            code = 503 if waiting else 200
            return _json(code, {"ready": not waiting, "sinks": len(views), "not_running": waiting})
        if path == "/metrics":
            if self.metrics is None:
                return _json(404, {"error": "metrics are not enabled"})
            return 200, self.metrics.render(), CONTENT_TYPE
        if path == "/sinks":
            head = self._head_position()
            return _json(
                200,
                {
                    "sinks": [v.to_json(head) for v in self.source.views()],
                    "head_position": head,
                    "head_error": self.head.error if self.head is not None else None,
                    "last_reload": _reload(self.source.last_reload),
                    "group": self.group() if self.group is not None else None,
                },
            )
        if path.startswith("/sinks/"):
            name = unquote(path[len("/sinks/") :])
            for view in self.source.views():
                if view.name == name:
                    body = view.to_json(self._head_position())
                    body["last_reload"] = _reload(self.source.last_reload)
                    return _json(200, body)
            return _json(404, {"error": f"no sink named {name!r}"})
        return _json(404, {"error": f"unknown path {path!r}"})


def _reload(result: ReloadResult | None) -> dict[str, Any] | None:
    return result.to_json() if result is not None else None


def _json(code: int, body: Any) -> tuple[int, bytes, str]:
    return code, json.dumps(body, indent=1).encode() + b"\n", "application/json"
