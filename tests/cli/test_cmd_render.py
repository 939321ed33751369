"""``sinks render``: yaml/json/kurrentdb output, masking, errors, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.specification.exitcodes import ExitCode

# The flat settings of the original's quickstart (KurrentDB Kafka sink docs), as sent to
# its management API.
QUICKSTART_SETTINGS = {
    "instanceTypeName": "kafka-sink",
    "topic": "customers",
    "bootstrapServers": "localhost:9092",
    "subscription:filter:scope": "stream",
    "subscription:filter:expression": "example-stream",
    "authentication:username": "your-username",
    "authentication:password": "your-password",
    "authentication:securityProtocol": "SaslSsl",
    "waitForBrokerAck": "true",
}

QUICKSTART_YAML = """\
name: kafka-sink-connector
settings:
  instanceTypeName: kafka-sink
  topic: customers
  bootstrapServers: localhost:9092
  subscription:
    filter:
      scope: stream
      expression: example-stream
  authentication:
    username: your-username
    password: your-password
    securityProtocol: SaslSsl
  waitForBrokerAck: true
"""

TEMPLATE = """\
name: secretive
labels:
  env: "{{ environment }}"
settings:
  instanceTypeName: kafka-sink
  topic: {{ topic }}
  bootstrapServers: "{{ secret('KAFKA_HOST') }}:9092"
  authentication:
    username: svc
    password: {{ secret('KAFKA_PW') }}
  defaultHeaders:
    X-Env: "{{ environment }}"
"""
SECRETS = {"KAFKA_HOST": "hidden-host-name", "KAFKA_PW": "pw-9f8e7d"}


@pytest.fixture
def project_env() -> dict[str, str]:
    return SECRETS


@pytest.fixture
def project_files() -> dict[str, str]:
    return {
        "_values/dev.yaml": "topic: dev-topic\n",
        "quickstart.yaml": QUICKSTART_YAML,
        "secretive.yaml.j2": TEMPLATE,
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["render", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_kurrentdb_format_matches_the_original_api_body(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--env", "dev", "--format", "kurrentdb")
    assert (code, err) == (0, "")
    bodies = json.loads(out)
    assert bodies[0] == {
        "name": "kafka-sink-connector",
        "settings": {**QUICKSTART_SETTINGS, "authentication:password": "***"},
    }
    assert bodies[1] == {
        "name": "secretive",
        "settings": {
            "instanceTypeName": "kafka-sink",
            "topic": "dev-topic",
            "bootstrapServers": "***",
            "authentication:username": "svc",
            "authentication:password": "***",
            "defaultHeaders:X-Env": "dev",
        },
    }
    for value in SECRETS.values():
        assert value not in out


def test_yaml_format_shows_canonical_settings_masked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--env", "dev")
    assert code == 0
    assert out.startswith(
        "# rendered for environment: dev\n---\n# source: sinks.d/quickstart.yaml\n"
    )
    assert "  subscription:filter:scope: Stream\n" in out
    assert "  authentication:password: '***'\n" in out
    assert "  compression:type: Zstd\n" in out  # defaults are shown
    for value in SECRETS.values():
        assert value not in out


def test_json_format_and_explicit_only(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--env", "dev", "--format", "json", "--explicit", "--set", "topic=from-cli"
    )
    assert code == 0
    body = json.loads(out)
    assert body["env"] == "dev"
    secretive = body["sinks"][1]
    assert secretive["labels"] == {"env": "dev"}
    assert secretive["settings"]["topic"] == "from-cli"
    assert "compression:type" not in secretive["settings"]
    for value in SECRETS.values():
        assert value not in out


def test_errors_print_nothing_on_stdout(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "broken.yaml").write_text(
        "name: broken\nsettings:\n  compression: {type: zsdt}\n"
        "  topic: t\n  instanceTypeName: kafka-sink\n"
    )
    code, out, err = run(capsys, "--env", "dev")
    assert (code, out) == (1, "")
    assert err.startswith("sinks.d/broken.yaml:3:23: error: compression:type: 'zsdt' is not one")


def test_missing_secret_is_an_error_unless_allowed(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAFKA_PW")
    code, out, err = run(capsys, "--env", "dev")
    assert (code, out) == (1, "")
    assert err == (
        "sinks.d/secretive.yaml.j2:10: error: secret 'KAFKA_PW' is not set "
        "(environment variable KAFKA_PW)\n"
    )
    code, out, err = run(capsys, "--env", "dev", "--allow-missing-secrets")
    assert code == 0
    assert "warning: secret 'KAFKA_PW' is not set" in err
    assert SECRETS["KAFKA_HOST"] not in out + err


def test_bad_set_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--set", "novalue")
    assert code == 2
    assert err.endswith("error: argument --set: expects KEY=VALUE, got 'novalue'\n")


REVEAL_WARNING = (
    "sinks render: warning: --reveal-secrets: the output holds passwords and secret values "
    "in clear; do not store it or paste it anywhere it can be read\n"
)


def test_reveal_secrets_prints_the_real_values_and_warns(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--env", "dev", "--format", "kurrentdb", "--reveal-secrets")
    assert (code, err) == (0, REVEAL_WARNING)
    bodies = json.loads(out)
    assert bodies[0] == {"name": "kafka-sink-connector", "settings": QUICKSTART_SETTINGS}
    assert bodies[1]["settings"]["bootstrapServers"] == f"{SECRETS['KAFKA_HOST']}:9092"
    assert bodies[1]["settings"]["authentication:password"] == SECRETS["KAFKA_PW"]
    assert "***" not in out


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_reveal_secrets_is_refused_with_other_formats(
    project: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = run(capsys, "--env", "dev", "--format", fmt, "--reveal-secrets")
    assert (code, out) == (ExitCode.USAGE, "")
    assert err == "sinks render: error: --reveal-secrets needs --format kurrentdb\n"


def test_reveal_secrets_is_refused_with_placeholders(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "--format", "kurrentdb", "--reveal-secrets", "--allow-missing-secrets"
    )
    assert (code, out) == (ExitCode.USAGE, "")
    assert err == (
        "sinks render: error: --reveal-secrets cannot be used with --allow-missing-secrets\n"
    )


def test_reveal_secrets_prints_nothing_when_a_file_is_broken(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "broken.yaml").write_text("name: broken\nsettings: {topic: t}\n")
    code, out, err = run(capsys, "--env", "dev", "--format", "kurrentdb", "--reveal-secrets")
    assert (code, out) == (ExitCode.CONFIG, "")
    assert REVEAL_WARNING not in err
