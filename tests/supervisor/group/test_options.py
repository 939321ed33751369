from __future__ import annotations

import argparse

import pytest

from engine.specification.settings import SaslMechanism, SecurityProtocol
from engine.supervisor.group import options


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    options.register(parser)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in options.ENV.values():
        monkeypatch.delenv(name, raising=False)


def test_without_a_group_the_engine_is_standalone() -> None:
    assert options.from_args(parse([])) is None


def test_flags_and_variables_build_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SINKS_GROUP_PASSWORD", "s3cret")
    monkeypatch.setenv("SINKS_GROUP_BOOTSTRAP", "k1:9092")
    got = options.from_args(
        parse(
            [
                "--group",
                "prod",
                "--group-bootstrap",
                "k1:9093,k2:9093",
                "--group-security-protocol",
                "saslssl",
                "--group-sasl-mechanism",
                "SCRAMSHA512",
                "--group-username",
                "engine",
                "--group-session-timeout-ms",
                "6000",
                "--processes",
                "2",
            ]
        )
    )
    assert got is not None
    assert got.group == "prod" and got.processes == 2
    c = got.connection
    assert c.bootstrap == "k1:9093,k2:9093"  # the flag wins over the variable
    assert c.security_protocol is SecurityProtocol.SASL_SSL
    assert c.sasl_mechanism is SaslMechanism.SCRAM_SHA_512
    assert (c.username, c.password, c.session_timeout_ms) == ("engine", "s3cret", 6000)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--processes", "2"], "--processes: needs --group (the processes share sinks as a group)"),
        (["--group", "g"], "--group-bootstrap: needed with --group (the Kafka cluster to meet on)"),
        (
            ["--group", "a.b", "--group-bootstrap", "k:1"],
            "--group: invalid group name 'a.b': use 1-100 letters, digits, '_' or '-', "
            "starting with a letter or digit",
        ),
        (
            ["--group", "g", "--group-bootstrap", "k:1", "--group-security-protocol", "tls"],
            "--group-security-protocol: 'tls' is not one of Plaintext, Ssl, SaslPlaintext, SaslSsl",
        ),
        (
            ["--group", "g", "--group-bootstrap", "k:1", "--processes", "0"],
            "--processes: must be at least 1, got 0",
        ),
        (
            ["--group", "g", "--group-bootstrap", "k:1", "--group-session-timeout-ms", "soon"],
            "--group-session-timeout-ms: expected a whole number, got 'soon'",
        ),
    ],
)
def test_unusable_options_name_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(options.OptionError) as caught:
        options.from_args(parse(argv))
    assert str(caught.value) == message
