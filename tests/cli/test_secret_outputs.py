"""No output of render shows a secret, whatever its text, and every JSON output parses.

Secrets are masked as values before anything is serialised: JSON escapes quotes,
backslashes and non-ASCII (so the printed text would no longer hold the secret as it
is), and a short secret such as "0" masked in serialised text would cut into numbers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli.main import main

TEMPLATE = """name: orders
description: {{ ("for " ~ secret("S")) | tojson }}
labels:
  team: {{ secret("S") | tojson }}
settings:
  instanceTypeName: kafka-sink
  topic: orders
  bootstrapServers: localhost:9092
  authentication:
    securityProtocol: SaslPlaintext
    saslMechanism: Plain
    username: user
    password: {{ secret("S") | tojson }}
  defaultHeaders:
    X-Token: {{ secret("S") | tojson }}
"""


@contextlib.contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def render(folder: Path, secret: str, fmt: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with environment("S", secret), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["render", "--dir", str(folder), "--format", fmt])
    assert code == 0, err.getvalue()
    assert secret not in err.getvalue()
    return out.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "sinks.d"
    root.mkdir()
    (root / "orders.yaml.j2").write_text(TEMPLATE)
    return root


odd_secrets = st.text(
    alphabet=st.sampled_from(list("ab'\"\\ :#{}[],&*!|>%@`\n\tüñ✓€\u2028")), min_size=6, max_size=14
).filter(lambda s: s.strip() == s and s.strip())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(secret=odd_secrets)
def test_no_render_format_shows_a_secret_and_json_parses(folder: Path, secret: str) -> None:
    for fmt in ("yaml", "json", "kurrentdb"):
        text = render(folder, secret, fmt)
        assert secret not in text, fmt
        # What a reader of the output gets once it is parsed: escapes undone.
        parsed = list(yaml.safe_load_all(text)) if fmt == "yaml" else json.loads(text)
        assert secret not in json.dumps(parsed, ensure_ascii=False), fmt


@pytest.mark.parametrize("secret", ["0", "5", "1", "e", "true"])
def test_a_short_secret_keeps_the_json_valid(tmp_path: Path, secret: str) -> None:
    root = tmp_path / "sinks.d"
    root.mkdir()
    (root / "orders.yaml.j2").write_text(
        "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: orders\n"
        "  autocommit:\n    interval: 5000\n  authentication:\n"
        '    password: {{ secret("S") | tojson }}\n'
    )
    body = json.loads(render(root, secret, "json"))
    shown = body["sinks"][0]["settings"]
    assert shown["autocommit:interval"] == 5000
    assert shown["authentication:password"] == "***"
