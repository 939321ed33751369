"""Which changed names the watcher reacts to (and so lists in a reload's reason)."""

from __future__ import annotations

import pytest
from watchfiles import Change

from engine.supervisor.watcher import _SinkFilter


@pytest.mark.parametrize(
    "name",
    [
        "#orders.yaml#",
        ".#orders.yaml",
        ".orders.yaml.swp",
        "orders.yaml.swp",
        "orders.yaml~",
        "4913",
        "orders.yaml___jb_tmp___",
        "orders.yaml___jb_old___",
        "orders.yaml.kate-swp",
        "orders.yaml.orig",
        "orders.yaml.bak",
        "orders.yaml.tmp",
        "orders.test.yaml",
    ],
)
def test_editor_temporary_files_are_ignored(name: str) -> None:
    assert _SinkFilter()(Change.modified, f"/cfg/sinks.d/{name}") is False


@pytest.mark.parametrize(
    "name", ["orders.yaml", "orders.yaml.j2", "_values/prod.yaml", "_templates/kafka.j2", "a.yml"]
)
def test_sink_values_and_template_files_are_watched(name: str) -> None:
    assert _SinkFilter()(Change.modified, f"/cfg/sinks.d/{name}") is True
