"""Property tests: whatever bytes a sink file holds, the loader answers with diagnostics.

Generated garbage (raw bytes, YAML/Jinja token soup) and mutations of valid files are
thrown at ``load_directory``. Every time, each file must come back as a clean
``FileResult``: either ok with valid sinks, or not ok with at least one located error,
and never an exception or an internal-error diagnostic.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.config.loader import FileResult, load_directory
from engine.specification.model import Severity, SinkDefinition

VALID_PLAIN = """\
name: orders
description: Orders to Kafka
enabled: true
labels:
  team: checkout
settings:
  instanceTypeName: kafka-sink
  topic: orders
  bootstrapServers: localhost:9092
  defaultHeaders:
    X-Source: kurrentdb
  subscription:
    filter:
      scope: stream
      expression: example-stream
  compression:
    type: zstd
    level: 3
  resilience:
    transientErrorDelay: "00:00:05"
"""

VALID_TEMPLATE = """\
{% for t in tenants %}
---
name: tenant-{{ t }}
settings:
  instanceTypeName: kafka-sink
  topic: {{ t }}-events
  bootstrapServers: {{ servers }}
  authentication:
    securityProtocol: SaslSsl
    username: {{ t }}
    password: {{ secret("PW") }}
  partitionKeyExtraction:
    enabled: true
    source: streamSuffix
{% endfor %}
"""

TOKENS = [
    "\n",
    "  ",
    "- ",
    ": ",
    "---\n",
    "name",
    "settings",
    "topic",
    "instanceTypeName",
    "kafka-sink",
    "compression:type",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "<<: *a",
    "!!python/object:os.system ",
    "!!binary ",
    "'",
    '"',
    "\t",
    "#",
    "|\n",
    ">\n",
    "?",
    "{{ ",
    " }}",
    "{% ",
    " %}",
    "{% for x in tenants %}",
    "{% endfor %}",
    "{{ nope }}",
    "{{ ''.__class__ }}",
    "{% include '../x' %}",
    "{{ secret('PW') }}",
    "{{ env('HOME') }}",
    "\x00",
    "\x07",
    "\ufeff",
    "é",
    "~",
    "null",
    "true",
    "1e999",
    "0x1F",
    ".inf",
]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([VALID_PLAIN, VALID_TEMPLATE]))
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        kind = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "char", "indent"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if kind == "delete" and lines:
            del lines[i]
        elif kind == "insert":
            lines.insert(i, draw(token_soup))
        elif kind == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif kind == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "char" and lines and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.sampled_from(TOKENS)) + lines[i][k + 1 :]
        elif kind == "indent" and lines:
            lines[i] = draw(st.sampled_from(["", " ", "    ", "\t"])) + lines[i].lstrip()
        text = "\n".join(lines)
    return text


contents = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400),
    token_soup,
    mutated(),
    mutated(),
)
names = st.sampled_from(["a.yaml", "b.yml", "c.yaml.j2", "d.yml.j2"])


def check(result: FileResult, root: str) -> None:
    assert isinstance(result, FileResult)
    for diagnostic in result.diagnostics:
        assert diagnostic.location is not None
        assert diagnostic.location.path.startswith(root)
        assert "internal error" not in diagnostic.message, diagnostic.format()
        assert "Traceback" not in diagnostic.format()
        assert "pw-secret-value" not in diagnostic.format()
    if result.ok:
        assert all(isinstance(s, SinkDefinition) and s.name for s in result.sinks)
        assert all(s.canonical["instanceTypeName"] == "kafka-sink" for s in result.sinks)
    else:
        assert any(d.severity is Severity.ERROR for d in result.diagnostics)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=st.lists(st.tuples(names, contents), min_size=1, max_size=3, unique_by=lambda f: f[0]))
def test_loader_never_raises(files: list[tuple[str, str | bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sinks.d"
        (root / "_values").mkdir(parents=True)
        (root / "_values" / "dev.yaml").write_text("tenants: [acme, globex]\nservers: k:9092\n")
        for name, body in files:
            data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
            (root / name).write_bytes(data)
        result = load_directory(
            root, env="dev", environ={"PW": "pw-secret-value", "HOME": "/home/x"}
        )
        for file in result.files:
            check(file, str(root))
            event("file ok" if file.ok else "file with errors")
        assert len(result.files) == len(files)


def test_the_unmutated_inputs_are_valid() -> None:
    # The mutations start from valid files; prove they are.
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sinks.d"
        (root / "_values").mkdir(parents=True)
        (root / "_values" / "dev.yaml").write_text("tenants: [acme, globex]\nservers: k:9092\n")
        (root / "a.yaml").write_text(VALID_PLAIN)
        (root / "c.yaml.j2").write_text(VALID_TEMPLATE)
        result = load_directory(root, env="dev", environ={"PW": "pw-secret-value"})
        assert result.ok, [d.format() for d in result.diagnostics]
        assert [s.name for s in result.definitions] == ["orders", "tenant-acme", "tenant-globex"]
