"""Status HTTP: routes, readiness, lag from the cached head, metrics text."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from engine.specification.model import Diagnostic, Location
from engine.supervisor.metrics import EngineMetrics
from engine.supervisor.plan import Plan
from engine.supervisor.results import ReloadOutcome, ReloadResult, SinkView
from engine.supervisor.status import HeadPoller, StatusServer, parse_addr


class Source:
    def __init__(self, views: list[SinkView], last: ReloadResult | None = None) -> None:
        self._views = views
        self.last_reload = last

    def views(self) -> list[SinkView]:
        return list(self._views)


def view(name: str, state: str = "RUNNING", **kw: object) -> SinkView:
    base: dict[str, object] = {
        "reason": None,
        "digest": "d" * 16,
        "source_file": f"sinks.d/{name}.yaml",
        "enabled": True,
    }
    base.update(kw)
    return SinkView(name=name, state=state, **base)  # type: ignore[arg-type]


def get(addr: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def serve() -> Iterator[object]:
    servers: list[StatusServer] = []

    def start(source: Source, head: HeadPoller | None = None) -> StatusServer:
        server = StatusServer(source, EngineMetrics(), "127.0.0.1:0", head)
        server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()


def test_sinks_and_one_sink_with_lag_and_reload_issues(serve) -> None:  # type: ignore[no-untyped-def]
    issue = Diagnostic(
        Location("sinks.d/b.yaml", 4, 9), "'zsdt' is not one of ...", "compression:type"
    )
    last = ReloadResult(
        at=1.0,
        plan=Plan(),
        outcome=ReloadOutcome.PARTIAL,
        rejected_files=("sinks.d/b.yaml",),
        issues=(issue,),
    )
    src = Source(
        [
            view("a", delivered=10, failed=1, last_delivered_position=900),
            view("b", state="RUNNING", issues=(issue.format(),), checkpoint_position=500),
            view("c", delivered=3, last_delivered_position=700, caught_up=True),
        ],
        last,
    )
    head = HeadPoller(lambda: 1000, interval=60)
    head.refresh()  # the poller is not started: the value is what the server must use
    server = serve(src, head)
    code, body = get(server.address, "/sinks")
    assert code == 200
    doc = json.loads(body)
    assert [s["name"] for s in doc["sinks"]] == ["a", "b", "c"]
    assert doc["head_position"] == 1000
    assert doc["last_reload"]["issues"] == [
        "sinks.d/b.yaml:4:9: error: compression:type: 'zsdt' is not one of ..."
    ]
    code, body = get(server.address, "/sinks/a")
    a = json.loads(body)
    assert (code, a["state"], a["delivered"], a["failed"], a["lag"]) == (200, "RUNNING", 10, 1, 100)
    assert a["source_file"] == "sinks.d/a.yaml" and a["digest"] == "d" * 16
    b = json.loads(get(server.address, "/sinks/b")[1])
    assert b["lag"] == 500  # no delivery yet: measured from the checkpoint
    assert b["issues"] == [issue.format()]
    c = json.loads(get(server.address, "/sinks/c")[1])
    # Live and drained: what lies between 700 and the head is not for this sink.
    assert (c["lag"], c["caught_up"], a["caught_up"]) == (0, True, False)
    code, body = get(server.address, "/sinks/nope")
    assert code == 404 and "nope" in body


def test_readiness_follows_enabled_sinks(serve) -> None:  # type: ignore[no-untyped-def]
    src = Source([view("a"), view("off", state="DISABLED", enabled=False)])
    server = serve(src)
    assert get(server.address, "/readyz")[0] == 200
    assert get(server.address, "/healthz")[0] == 200
    src._views.append(view("c", state="BACKOFF"))
    code, body = get(server.address, "/readyz")
    assert code == 503
    assert json.loads(body)["not_running"] == {"c": "BACKOFF"}


def test_metrics_endpoint_and_lag_published_on_refresh(serve) -> None:  # type: ignore[no-untyped-def]
    src = Source([view("a", last_delivered_position=40)])
    positions = iter([100, 150])
    head = HeadPoller(lambda: next(positions), interval=60)
    server = serve(src, head)  # start() refreshes once at once
    deadline = threading.Event()
    for _ in range(50):
        if head.position == 100:
            break
        deadline.wait(0.05)
    code, text = get(server.address, "/metrics")
    assert code == 200
    assert 'sinks_lag_positions{sink="a"} 60.0' in text
    assert 'sinks_reloads_total{result="applied"} 0.0' in text


def test_head_errors_are_reported_not_raised(serve) -> None:  # type: ignore[no-untyped-def]
    def broken() -> int:
        raise RuntimeError("kurrentdb: unavailable")

    head = HeadPoller(broken, interval=60)
    head.refresh()
    server = serve(Source([view("a", last_delivered_position=1)]), head)
    doc = json.loads(get(server.address, "/sinks")[1])
    assert doc["head_error"] == "kurrentdb: unavailable"
    assert doc["sinks"][0]["lag"] is None


def test_parse_addr() -> None:
    assert parse_addr("127.0.0.1:7781") == ("127.0.0.1", 7781)
    assert parse_addr(":80") == ("127.0.0.1", 80)
    with pytest.raises(ValueError):
        parse_addr("localhost")


def test_lag_is_null_once_the_head_cannot_be_read_and_errors_carry_their_time(serve) -> None:  # type: ignore[no-untyped-def]
    answers: list[object] = [1000, RuntimeError("kurrentdb: unavailable")]

    def read_head() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        assert isinstance(answer, int)
        return answer

    head = HeadPoller(read_head, interval=60)
    head.refresh()
    down = "kafka: _ALL_BROKERS_DOWN: 1/1 brokers are down"
    views = [
        view("a", last_delivered_position=400),
        view("b", caught_up=True, last_delivered_position=990),
        view("c", last_error=down, last_error_at=1_764_585_600.25, lost=("kafka",)),
    ]
    server = StatusServer(Source(views), EngineMetrics(), "127.0.0.1:0", head)
    server._httpd.server_close()  # only respond() is exercised here
    doc = json.loads(server.respond("/sinks")[1])
    assert [s["lag"] for s in doc["sinks"]] == [600, 0, None]
    head.refresh()  # the server went away: the old head is no figure to show
    doc = json.loads(server.respond("/sinks")[1])
    assert doc["head_error"] == "kurrentdb: unavailable"
    assert [s["lag"] for s in doc["sinks"]] == [None, None, None]
    c = json.loads(server.respond("/sinks/c")[1])
    assert (c["state"], c["last_error"], c["last_error_since"], c["dependencies_lost"]) == (
        "RUNNING",
        down,
        "2025-12-01T10:40:00.250+00:00",
        ["kafka"],
    )
    code, body, _ = server.respond("/readyz")
    assert (code, json.loads(body)["not_running"]) == (200, {})  # RUNNING, shown by last_error


def test_answers_are_masked_with_the_secrets_of_the_sink_files() -> None:
    from engine.config.secretbook import SecretBook

    book = SecretBook()
    book.add('pa"ss\\wörd')
    failing = view("orders", state="FAILED", last_error='auth failed for pa"ss\\wörd')
    server = StatusServer(Source([failing]), EngineMetrics(), "127.0.0.1:0", secrets=book)
    server.start()
    try:
        code, text = get(server.address, "/sinks/orders")
    finally:
        server.stop()
    assert code == 200
    assert json.loads(text)["last_error"] == "auth failed for ***"
