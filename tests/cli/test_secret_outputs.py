"""No output of a command shows a secret, whatever its text, and every JSON output parses.

Commands that read sink files offline: render (every format), validate (every format,
with a setting whose invalid value is the secret, so the error message would quote
it), diff (an environment whose secret differs), test (a failing case, which prints the
message it got, headers included). The running engine's log lines and status answers
are pinned in tests/supervisor/test_logs.py and test_status.py.

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


def command(arguments: list[str], secret: str, codes: tuple[int, ...] = (0,)) -> str:
    """What ``sinks ARGUMENTS`` prints on stdout, with $S set to ``secret``; stderr must
    not show it either (``stderr`` of the last call is kept in ``LAST_ERR``)."""
    out, err = io.StringIO(), io.StringIO()
    with environment("S", secret), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(arguments)
    assert code in codes, (code, out.getvalue(), err.getvalue())
    assert secret not in err.getvalue()
    LAST_ERR[:] = [err.getvalue()]
    return out.getvalue()


LAST_ERR: list[str] = [""]


def render(folder: Path, secret: str, fmt: str) -> str:
    return command(["render", "--dir", str(folder), "--format", fmt], secret)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets") / "sinks.d"
    root.mkdir()
    (root / "orders.yaml.j2").write_text(TEMPLATE)
    return root


# A file whose invalid setting value is the secret: validation quotes invalid values.
BROKEN = """name: broken
settings:
  instanceTypeName: kafka-sink
  topic: broken
  compression:
    type: {{ secret("S") | tojson }}
"""

# A config test that fails on purpose: the report shows the message the sink made,
# whose X-Token header is the secret.
CASES = """cases:
  - name: the header is compared
    event: {stream: order-1, type: OrderPlaced, data: {orderId: 1}}
    expect:
      topic: orders
      headers: {X-Token: not-the-secret}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("commands") / "sinks.d"
    (root / "_values").mkdir(parents=True)
    (root / "orders.yaml.j2").write_text(TEMPLATE)
    (root / "orders.test.yaml").write_text(CASES)
    (root / "_values" / "dev.yaml").write_text("{}\n")
    (root / "_values" / "prod.yaml").write_text("{}\n")
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
        "  autocommit:\n    interval: 7777\n  authentication:\n"
        '    password: {{ secret("S") | tojson }}\n'
    )
    body = json.loads(render(root, secret, "json"))
    shown = body["sinks"][0]["settings"]
    assert shown["autocommit:interval"] == 7777  # holds no secret: shown
    assert shown["authentication:password"] == "***"


def test_a_number_written_from_a_secret_in_part_is_masked(tmp_path: Path) -> None:
    root = tmp_path / "sinks.d"
    root.mkdir()
    (root / "orders.yaml.j2").write_text(
        "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: orders\n"
        '  autocommit:\n    interval: 10{{ secret("S") }}\n'
    )
    body = json.loads(render(root, "0", "json"))
    assert body["sinks"][0]["settings"]["autocommit:interval"] == "***"  # was 100, in clear


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(secret=odd_secrets)
def test_no_other_command_shows_a_secret_and_json_parses(project: Path, secret: str) -> None:
    folder = str(project)
    shown = []
    broken = project / "broken.yaml.j2"
    broken.write_text(BROKEN)
    try:
        for fmt in ("text", "json", "github"):
            text = command(["validate", "--dir", folder, "--format", fmt], secret, (1,))
            # The error is there (on stderr in text form), its value masked.
            assert "compression:type" in text + LAST_ERR[0], text
            if fmt == "json":
                json.loads(text)
            shown.append(text)
    finally:
        broken.unlink()
    # The environments differ only in the secret: diff says a value changed, masked.
    with environment("SINKS_SECRET_PROD", "x"):
        for fmt in ("text", "json"):
            text = command(
                ["diff", "--dir", folder, "--env", "dev", "--env", "prod", "--format", fmt],
                secret,
                (0, 4),
            )
            if fmt == "json":
                json.loads(text)
            shown.append(text)
    text = command(["test", "--dir", folder, "-v"], secret, (1,))
    assert "the header is compared" in text and "FAIL" in text.upper(), text
    shown.append(text)
    for text in shown:
        assert secret not in text
