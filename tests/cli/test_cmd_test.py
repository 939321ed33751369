"""``sinks test``: config tests through the real loader, output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli.main import main

SINK = """\
name: orders
settings:
  instanceTypeName: kafka-sink
  topic: {{ topic }}
  subscription:
    filter:
      scope: stream
      filterType: prefix
      expression: order-
  partitionKeyExtraction:
    enabled: true
    source: streamSuffix
"""

TESTS = """\
cases:
  - name: order goes out
    event:
      stream: order-123
      type: OrderPlaced
      data: {region: eu}
    expect:
      topic: orders-dev
      key: "123"
      value: {region: eu}
  - name: invoices stay out
    event: {stream: invoice-1, type: InvoiceIssued, data: {}}
    expect: {filtered: true}
"""


@pytest.fixture
def project_files() -> dict[str, str]:
    return {
        "_values/dev.yaml": "topic: orders-dev\n",
        "_values/prod.yaml": "topic: orders-prod\n",
        "orders.yaml.j2": SINK,
        "orders.test.yaml": TESTS,
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["test", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_all_pass(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--env", "dev") == (0, "2 passed, 0 failed\n", "")


def test_failure_points_at_the_test_file_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "--env", "prod") == (
        1,
        "1 passed, 1 failed\n",
        "sinks.d/orders.test.yaml:8:14: error: case 'order goes out': topic: expected "
        "'orders-dev', got 'orders-prod'\n",
    )


def test_verbose_lists_cases(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--env", "dev", "-v")
    assert code == 0
    assert out == (
        "sinks.d/orders.test.yaml: case 'order goes out': ok (to topic orders-dev)\n"
        "sinks.d/orders.test.yaml: case 'invoices stay out': ok\n"  # filtered out
        "2 passed, 0 failed\n"
    )


def test_config_errors_fail_the_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "orders.yaml.j2").write_text(SINK.replace("streamSuffix", "streamSufix"))
    code, out, err = run(capsys, "--env", "dev")
    assert code == 1
    assert out == "0 passed, 2 failed, 1 configuration error\n"
    assert "sinks.d/orders.yaml.j2:" in err and "streamSufix" in err
    assert "no loaded sink in orders.yaml beside this file" in err


def test_no_tests_is_not_a_failure(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "orders.test.yaml").unlink()
    assert run(capsys, "--env", "dev") == (
        0,
        "0 passed, 0 failed\n",
        "no config tests (*.test.yaml) under sinks.d\n",
    )


def test_a_missing_secret_is_in_the_summary_not_only_the_exit_status(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE_PASSWORD", raising=False)
    (project / "other.yaml.j2").write_text(
        "name: other\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
        "  authentication:\n    securityProtocol: SaslPlaintext\n    username: u\n"
        '    password: {{ secret("NOPE_PASSWORD") }}\n'
    )
    code, out, err = run(capsys, "--env", "dev")
    assert (code, out) == (1, "2 passed, 0 failed, 1 configuration error\n")
    assert err == (
        "sinks.d/other.yaml.j2:8: error: secret 'NOPE_PASSWORD' is not set "
        "(environment variable NOPE_PASSWORD)\n"
    )
