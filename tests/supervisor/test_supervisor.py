"""Supervisor: applying plans, per-file last good, rollback, shutdown (in-test workers).

Real sink files are loaded by the real config source; the engine's own ``Reloader``
hands its desired set to the supervisor (``EngineApp``, nothing served).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.supervisor.results import ReloadOutcome
from tests.supervisor.fakes import Folder, Journal, sink_yaml
from tests.support.engines import EngineInThread

CODECS = "None, Gzip, Snappy, Lz4, Zstd"


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path)


def make(journal: Journal, folder: Folder, **options: float) -> EngineInThread:
    """The engine's own wiring (config source, supervisor, reloader) with fake workers;
    nothing runs until the test calls ``reload``."""
    return EngineInThread(
        folder.root,
        worker_factory=journal.factory,
        serve=False,
        kurrentdb_url="esdb://127.0.0.1:1?Tls=false",
        **{"start_grace": 1.0, "shutdown_timeout": 2.0, **options},
    )


def states(sup: EngineInThread) -> dict[str, str]:
    return {v.name: v.state for v in sup.views()}


def test_starts_enabled_sinks_and_shows_disabled_ones(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "orders-t"), ("customers", "customers-t"))
    folder.good("off.yaml", ("archive", "archive-t"), enabled=False)
    sup = make(journal, folder)
    result = sup.reload()
    assert result.outcome is ReloadOutcome.APPLIED
    assert [d.name for d in result.plan.added] == ["customers", "orders"]
    assert states(sup) == {"orders": "RUNNING", "customers": "RUNNING", "archive": "DISABLED"}
    assert sorted(journal.actions()) == [("start", "customers-t"), ("start", "orders-t")]
    view = sup.view("orders")
    assert view is not None
    assert (view.delivered, view.last_delivered_position) == (5, 100)
    assert view.source_file == str(folder.root / "a.yaml")
    # Running or not, a sink shows its guarantee (the table default when not written).
    assert view.to_json()["guarantee"] == "atLeastOnce"
    archive = sup.view("archive")
    assert archive is not None and archive.to_json()["guarantee"] == "atLeastOnce"


def test_a_sink_shows_its_delivery_guarantee(journal: Journal, folder: Folder) -> None:
    (folder.root / "eo.yaml").write_text(
        sink_yaml("ledger", "ledger-t") + "  delivery:\n    guarantee: exactlyonce\n"
    )
    sup = make(journal, folder)
    sup.reload()
    view = sup.view("ledger")
    assert view is not None and view.to_json()["guarantee"] == "exactlyOnce"


def test_changed_sink_stops_before_the_new_one_starts(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    sup = make(journal, folder)
    sup.reload()
    first = sup.worker("orders")
    folder.good("a.yaml", ("orders", "v2"))
    result = sup.reload()
    assert [c.name for c in result.plan.changed] == ["orders"]
    assert journal.actions("orders") == [("start", "v1"), ("stop", "v1"), ("start", "v2")]
    assert sup.worker("orders") is not first
    view = sup.view("orders")
    assert view is not None and view.restarts == 1 and view.state == "RUNNING"


def test_comment_only_edit_keeps_the_same_worker(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    sup = make(journal, folder)
    sup.reload()
    first = sup.worker("orders")
    folder.good("a.yaml", ("orders", "v1"), note="only a comment changed")
    result = sup.reload()
    assert result.plan.is_empty
    assert result.outcome is ReloadOutcome.APPLIED  # the file changed, nothing to restart
    assert sup.worker("orders") is first
    assert journal.actions("orders") == [("start", "v1")]


def test_invalid_file_keeps_last_good_and_is_reported_once(
    journal: Journal, folder: Folder
) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    folder.good("b.yaml", ("payments", "p1"))
    sup = make(journal, folder)
    sup.reload()
    running = sup.worker("orders")
    folder.bad("a.yaml", "zsdt")
    problem = (
        f"{folder.root / 'a.yaml'}:7:11: error: compression:type: "
        f"'zsdt' is not one of {CODECS} (did you mean 'Zstd'?)"
    )
    folder.good("b.yaml", ("payments", "p2"))  # another file still applies
    result = sup.reload()
    assert result.outcome is ReloadOutcome.PARTIAL
    assert result.rejected_files == (str(folder.root / "a.yaml"),)
    assert result.issue_lines() == [problem]
    assert [c.name for c in result.plan.changed] == ["payments"]
    assert sup.worker("orders") is running
    view = sup.view("orders")
    assert view is not None and view.state == "RUNNING"
    assert view.issues == (problem,)
    # same bytes again: not a new rejection, nothing retried
    again = sup.reload()
    assert again.rejected_files == () and again.outcome is ReloadOutcome.UNCHANGED
    # other broken bytes: a new rejection
    folder.bad("a.yaml", "lz5")
    assert sup.reload().rejected_files == (str(folder.root / "a.yaml"),)
    # fixed: applies, issues cleared
    folder.good("a.yaml", ("orders", "v2"))
    fixed = sup.reload()
    assert fixed.outcome is ReloadOutcome.APPLIED
    assert [c.name for c in fixed.plan.changed] == ["orders"]
    view = sup.view("orders")
    assert view is not None and view.issues == ()


def test_never_good_file_starts_nothing(journal: Journal, folder: Folder) -> None:
    folder.bad("new.yaml", "zip", name="new")
    sup = make(journal, folder)
    result = sup.reload()
    assert result.rejected_files == (str(folder.root / "new.yaml"),)
    assert sup.views() == [] and journal.events == []


def test_deleted_file_stops_its_sinks(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    folder.good("b.yaml", ("payments", "p1"))
    sup = make(journal, folder)
    sup.reload()
    folder.delete("a.yaml")
    result = sup.reload()
    assert [d.name for d in result.plan.removed] == ["orders"]
    assert journal.actions("orders") == [("start", "v1"), ("stop", "v1")]
    assert states(sup) == {"payments": "RUNNING"}


def test_removals_stop_before_additions_start(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("old", "t-old"))
    sup = make(journal, folder)
    sup.reload()
    folder.delete("a.yaml")
    folder.good("b.yaml", ("new", "t-new"))
    sup.reload()
    assert journal.actions()[1:] == [("stop", "t-old"), ("start", "t-new")]


@pytest.mark.parametrize("bad_topic", ["boom", "late-fail"])
def test_new_definition_that_cannot_start_is_rolled_back(
    journal: Journal, folder: Folder, bad_topic: str
) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    sup = make(journal, folder)
    sup.reload()
    folder.good("a.yaml", ("orders", bad_topic))
    result = sup.reload()
    assert result.outcome is ReloadOutcome.PARTIAL
    assert [r.name for r in result.rolled_back] == ["orders"]
    failed_worker_stopped = [("stop", bad_topic)] if bad_topic == "late-fail" else []
    assert journal.actions("orders")[1:] == [
        ("stop", "v1"),
        ("start", bad_topic),
        *failed_worker_stopped,  # a worker that reached FAILED is stopped before the rollback
        ("start", "v1"),
    ]
    view = sup.view("orders")
    assert view is not None and view.state == "RUNNING"
    worker = sup.worker("orders")
    assert worker is not None and worker.status().definition_digest == view.digest
    assert any("could not start" in line for line in result.issue_lines())
    assert any("could not start" in line for line in view.issues)
    # the failed content is not retried until it changes
    before = len(journal.events)
    assert sup.reload().outcome is ReloadOutcome.UNCHANGED
    assert len(journal.events) == before
    folder.good("a.yaml", ("orders", "v3"))
    assert [c.name for c in sup.reload().plan.changed] == ["orders"]
    assert journal.actions("orders")[-1] == ("start", "v3")


def test_added_sink_that_cannot_start_is_shown_failed(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "boom-auth"))
    sup = make(journal, folder)
    result = sup.reload()
    assert result.failed_to_start == ("orders",)
    view = sup.view("orders")
    assert view is not None and view.state == "FAILED"
    assert view.last_error == "kafka: cannot build producer for boom-auth"
    # unchanged content: still shown FAILED, not retried
    assert sup.reload().outcome is ReloadOutcome.UNCHANGED
    assert journal.actions("orders") == [("start", "boom-auth")]
    assert states(sup) == {"orders": "FAILED"}
    # fixed content: started
    folder.good("a.yaml", ("orders", "fixed"))
    assert [d.name for d in sup.reload().plan.added] == ["orders"]
    assert states(sup) == {"orders": "RUNNING"}


def test_disabling_a_sink_stops_it(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    sup = make(journal, folder)
    sup.reload()
    folder.good("a.yaml", ("orders", "v1"), enabled=False)
    result = sup.reload()
    assert [d.name for d in result.plan.removed] == ["orders"]
    assert states(sup) == {"orders": "DISABLED"}
    assert journal.actions("orders") == [("start", "v1"), ("stop", "v1")]


def test_one_changed_file_among_100_restarts_exactly_one(journal: Journal, folder: Folder) -> None:
    for i in range(100):
        folder.good(f"s{i:03}.yaml", (f"sink-{i:03}", f"topic-{i}"))
    sup = make(journal, folder)
    sup.reload()
    assert len(journal.events) == 100
    folder.good("s042.yaml", ("sink-042", "topic-42-new"))
    result = sup.reload()
    assert [c.name for c in result.plan.changed] == ["sink-042"]
    assert journal.events[100:] == [
        ("stop", "sink-042", "topic-42"),
        ("start", "sink-042", "topic-42-new"),
    ]


def test_shutdown_names_stuck_sinks_within_the_deadline(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "v1"), ("hung", "stuck-1"))
    sup = make(journal, folder)
    sup.reload()
    started = time.monotonic()
    result = sup.shutdown(deadline=0.5)
    elapsed = time.monotonic() - started
    assert result.stuck == ("hung",)
    assert result.stopped == ("orders",)
    # A stuck thread never ends: shutdown returning at all shows it was not waited for.
    # The bound is generous on purpose (CI runs this suite niced beside another).
    assert elapsed < 30


def test_a_stuck_predecessor_keeps_its_successor_out(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("hung", "stuck-1"))
    sup = make(journal, folder, shutdown_timeout=0.3)
    sup.reload()
    folder.good("a.yaml", ("hung", "v2"))
    result = sup.reload()
    assert result.stuck == ("hung",)
    assert journal.actions("hung") == [("start", "stuck-1"), ("stop", "stuck-1")]
    view = sup.view("hung")
    assert view is not None and view.state == "FAILED"
    assert view.last_error == "previous worker did not stop in time; not restarted"


def test_duplicate_error_clears_when_the_duplicate_goes(journal: Journal, folder: Folder) -> None:
    folder.good("a.yaml", ("orders", "v1"))
    sup = make(journal, folder)
    sup.reload()
    running = sup.worker("orders")
    folder.good("b.yaml", ("orders", "v2"))
    result = sup.reload()
    assert sorted(result.rejected_files) == [str(folder.root / f) for f in ("a.yaml", "b.yaml")]
    view = sup.view("orders")
    assert view is not None and sup.worker("orders") is running
    assert view.issues == (
        f"{folder.root / 'a.yaml'}:1:7: error: name: duplicate sink name 'orders' "
        f"(also defined at {folder.root / 'b.yaml'}:1:7)",
    )
    folder.delete("b.yaml")  # a.yaml itself is not edited
    cleared = sup.reload()
    assert cleared.rejected_files == () and cleared.plan.is_empty
    view = sup.view("orders")
    assert view is not None and view.issues == () and sup.worker("orders") is running
