"""``sinks diff``: two environments, or the working copy against a git ref; exit 4 on changes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.cli.main import main

SINK = """\
name: orders
settings:
  instanceTypeName: kafka-sink
  topic: {{ topic }}
  authentication:
    password: {{ secret_file(pw_file) }}
  compression:
    type: {{ compression }}
"""
PLAIN = "name: plain\nsettings:\n  instanceTypeName: kafka-sink\n  topic: plain\n"


@pytest.fixture
def project_files() -> dict[str, str]:
    return {
        "_secrets/dev.pw": "dev-password-123\n",
        "_secrets/prod.pw": "prod-password-456\n",
        "_values/dev.yaml": "topic: orders-dev\ncompression: zstd\npw_file: _secrets/dev.pw\n",
        "_values/prod.yaml": "topic: orders\ncompression: zstd\npw_file: _secrets/prod.pw\n",
        "_values/same.yaml": "topic: orders-dev\ncompression: Zstd\npw_file: _secrets/dev.pw\n",
        "orders.yaml.j2": SINK,
        "plain.yaml": PLAIN,
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_two_environments(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--env", "dev", "--env", "prod")
    assert (code, err) == (4, "")
    assert out == (
        "--- sinks.d (env dev)\n"
        "+++ sinks.d (env prod)\n"
        "~ sink orders (2 changed)\n"
        '    ~ authentication:password: "***" -> "***"\n'
        '    ~ topic: "orders-dev" -> "orders"\n'
        "0 added, 0 removed, 1 changed\n"
    )
    assert "password-" not in out


def test_no_difference_exits_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Spelling (zstd vs Zstd) is no difference: canonical settings are compared.
    code, out, _ = run(capsys, "--env", "dev", "--env", "same")
    assert code == 0
    assert out == "no differences between sinks.d (env dev) and sinks.d (env same)\n"


def test_json_output(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--env", "dev", "--env", "prod", "--format", "json")
    assert code == 4
    body = json.loads(out)
    assert body["differences"] is True
    keys = body["sinks"][0]["keys"]
    assert keys[0] == {
        "key": "authentication:password",
        "change": "changed",
        "before": "***",
        "after": "***",
    }
    assert "password-" not in out


def test_usage_errors(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--env", "dev")
    assert code == 2
    assert err == "sinks: error: give --env twice (--env A --env B) or --against GIT_REF\n"


def test_config_errors_exit_1(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "_values" / "bad.yaml").write_text(
        "topic: t\ncompression: zsdt\npw_file: _secrets/dev.pw\n"
    )
    code, out, err = run(capsys, "--env", "dev", "--env", "bad")
    assert (code, out) == (1, "")
    assert err.startswith("sinks.d/orders.yaml.j2:8:11: error: compression:type: 'zsdt'")
    assert err.splitlines()[0].endswith(" (env bad)")


def test_an_error_in_both_environments_is_printed_once_naming_both(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "broken.yaml").write_text(
        "name: broken\nsettings:\n  instanceTypeName: kafka-sink\n"
    )
    code, out, err = run(capsys, "--env", "dev", "--env", "prod")
    assert (code, out) == (1, "")
    assert (
        err
        == "sinks.d/broken.yaml:2:1: error: topic: required setting is missing (env dev, prod)\n"
    )


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_against_a_git_ref(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = project.parent
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "sinks.d")
    git(repo, "commit", "-q", "-m", "first")
    code, out, _ = run(capsys, "--against", "HEAD", "--env", "prod")
    assert (code, out) == (
        0,
        "no differences between HEAD:sinks.d (env prod) and sinks.d (env prod)\n",
    )
    (project / "plain.yaml").unlink()
    (project / "new.yaml").write_text(PLAIN.replace("plain", "new"))
    (project / "_secrets" / "prod.pw").write_text("rotated-password-789\n")
    code, out, err = run(capsys, "--against", "main", "--env", "prod")
    assert err == ""
    assert code == 4
    assert out == (
        "--- main:sinks.d (env prod)\n"
        "+++ sinks.d (env prod)\n"
        "+ sink new (added, sinks.d/new.yaml)\n"
        "~ sink orders (1 changed)\n"
        '    ~ authentication:password: "***" -> "***"\n'
        "- sink plain (removed, was main:sinks.d/plain.yaml)\n"
        "1 added, 1 removed, 1 changed\n"
    )
    assert "password-" not in out


def test_against_errors_in_the_old_version_are_labelled(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.parent
    (project / "plain.yaml").write_text("name: plain\nsettings: [\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "sinks.d")
    git(repo, "commit", "-q", "-m", "broken")
    (project / "plain.yaml").write_text(PLAIN)
    code, _, err = run(capsys, "--against", "main", "--env", "dev")
    assert code == 1
    assert err.startswith("main:sinks.d/plain.yaml:3:1: error: invalid YAML:")


def test_against_unknown_ref_and_missing_folder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project.parent
    git(repo, "init", "-q", "-b", "main")
    (repo / "README").write_text("x")
    git(repo, "add", "README")
    git(repo, "commit", "-q", "-m", "no sinks yet")
    code, _, err = run(capsys, "--against", "nope", "--env", "dev")
    assert (code, err) == (2, "sinks: error: unknown git ref 'nope'\n")
    code, out, _ = run(capsys, "--against", "main", "--env", "dev")
    assert code == 4
    assert "+ sink orders (added, sinks.d/orders.yaml.j2)\n" in out
    assert "+ sink plain (added, sinks.d/plain.yaml)\n" in out
