"""Template rendering is bounded in time and memory: each refusal before the allocation.

Without these bounds the first cases rendered for up to a minute and took 1-5 GB
(``lipsum(1000000)``: 55 s, 1.7 GB; ``"%999999999d" % 1``: 24 s, 4.9 GB; doubling a
string 30 times: 1.6 GB, and accepted).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from engine.config import templating
from engine.config.jinja_env import cancel_renders_on
from tests.config.test_templating import make_root, render

DOUBLING = '{%% set ns = namespace(s="x") %%}{%% for i in range(30) %%}%s{%% endfor %%}{{ ns.s }}'


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ lipsum(1000000) }}", "lipsum is limited to 100 paragraphs of 200 words"),
        ("{{ lipsum(5, max=10000) }}", "lipsum is limited to 100 paragraphs of 200 words"),
        ('{{ "%999999999d" % 1 }}', "format width too large"),
        ('{{ "%.999999999f" % 1 }}', "format width too large"),
        ('{{ "%*d" % (5, 1) }}', "format width too large"),
        ('{{ "%999999999d"|format(1) }}', "format width too large"),
        ('{{ "{:>999999999}".format(1) }}', "format width too large"),
        ('{{ "{:>{w}}".format(1, w=999999999) }}', "string result too large"),
        (DOUBLING % "{% set ns.s = ns.s ~ ns.s %}", "concatenation result too large"),
        (DOUBLING % "{% set ns.s = ns.s + ns.s %}", "concatenation result too large"),
        ('{{ "x"|indent(999999999) }}', "filter argument too large"),
        ('{{ "x"|center(999999999) }}', "filter argument too large"),
        ('{{ ("a" * 999999)|replace("a", "bb") }}', "replace result too large"),
        ('{{ ("a" * 999999).replace("a", "bb") }}', "replace result too large"),
        ('{{ ("," * 999999).join(["a", "b", "c"]) }}', "join result too large"),
        ('{{ ["a", "b", "c"]|join("," * 999999) }}', "join result too large"),
    ],
)
def test_oversized_results_are_refused_before_they_are_built(
    tmp_path: Path, source: str, message: str
) -> None:
    # The message is the refusal's own ("... result too large"), not the render limit's.
    text, found, _ = render(make_root(tmp_path, {}), f"a: {source}\n")
    assert (text, found) == (None, [f"sinks.d/t.yaml.j2:1: error: {message}"])


@pytest.mark.parametrize(
    "source",
    [
        "{{ lipsum(3, html=False)|length > 0 }}",
        '{{ "%5.2f|%-4d|%s" % (3.14159, 7, "x") }}',
        '{{ "{:>6}|{:08.3f}".format("x", 2.5) }}',
        '{{ "a" ~ "b" ~ 1 }}',
        '{{ "ab"|replace("a", "c") }}{{ "a,b".replace(",", ";") }}',
        '{{ ["a", "b"]|join("-") }}{{ "-".join(["c", "d"]) }}{{ "x"|indent(4) }}',
    ],
)
def test_ordinary_uses_still_render(tmp_path: Path, source: str) -> None:
    text, found, _ = render(make_root(tmp_path, {}), f"a: {source}\n")
    assert found == []
    assert text is not None and text.startswith("a: ")


def test_rendering_stops_at_its_time_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(templating, "MAX_RENDER_SECONDS", 0.05)
    source = '{% for i in range(199000) %}{% set x = "a" ~ i %}{% endfor %}done\n'
    started = time.monotonic()
    text, found, _ = render(make_root(tmp_path, {}), source)
    assert (text, found) == (
        None,
        ["sinks.d/t.yaml.j2:1: error: rendering took longer than 0.05 s"],
    )
    assert time.monotonic() - started < 2


class _GateEnviron(dict[str, str]):
    """Environment variables whose ``GATE`` lookup waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__(GATE="open")
        self.reached = threading.Event()
        self.go = threading.Event()

    def __contains__(self, name: object) -> bool:
        if name == "GATE":
            self.reached.set()
            assert self.go.wait(60)
        return super().__contains__(name)


def test_a_cancelled_render_on_another_thread_stops_at_its_next_check(tmp_path: Path) -> None:
    # The render waits at `env("GATE")`; meanwhile its cancel event is set; the loop
    # after it is where the sandbox's next check stops it.
    environ = _GateEnviron()
    context = templating.TemplateContext(make_root(tmp_path, {}), "sinks.d", environ=environ)
    source = "{% set g = env('GATE') %}\n{% for i in range(199000) %}{{ i }}{% endfor %}\n"
    cancel = threading.Event()
    outcomes: list[templating.RenderOutcome] = []

    def run() -> None:
        with cancel_renders_on(cancel):
            outcomes.append(context.render(tmp_path / "t.yaml.j2", "sinks.d/t.yaml.j2", source))

    thread = threading.Thread(target=run)
    thread.start()
    assert environ.reached.wait(60)
    cancel.set()
    environ.go.set()
    thread.join(60)
    [outcome] = outcomes
    assert outcome.text is None
    assert [d.format() for d in outcome.diagnostics] == [
        "sinks.d/t.yaml.j2:2: error: rendering cancelled"
    ]
    # The same context renders on the main thread with no cancel event of its own.
    environ.go.set()
    assert context.render(tmp_path / "u.yaml.j2", "sinks.d/u.yaml.j2", "b: 1\n").text == "b: 1\n"
