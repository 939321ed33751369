"""``sinks validate``: exit codes, text/json/github output, every environment, masking."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main

ROOT = Path(__file__).resolve().parents[2]

GOOD = "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: orders\n"
TENANTS = """\
{% for t in tenants %}
---
name: t-{{ t }}
settings:
  instanceTypeName: kafka-sink
  topic: {{ t }}
  compression:
    type: {{ compression }}
  authentication:
    password: {{ secret('PW') }}
{% endfor %}
"""
SECRET = "do-not-print-me-42"


@pytest.fixture
def project_env() -> dict[str, str]:
    return {"PW": SECRET}


@pytest.fixture
def project_files() -> dict[str, str]:
    return {
        "_values/dev.yaml": "tenants: [a, b]\ncompression: gzip\n",
        "_values/prod.yaml": "tenants: [a]\ncompression: zsdt\n",
        "orders.yaml": GOOD,
        "tenants.yaml.j2": TENANTS,
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_environment(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--env", "dev") == (
        0,
        "sinks.d (env dev): ok: 2 files, 3 sinks, 0 errors, 0 warnings\n",
        "",
    )


def test_errors_exit_1_with_compiler_lines(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--env", "prod")
    assert code == 1
    assert err == (
        "sinks.d/tenants.yaml.j2:8:11: error: compression:type: 'zsdt' is not one of None, "
        "Gzip, Snappy, Lz4, Zstd (did you mean 'Zstd'?)\n"
    )
    assert out == "sinks.d (env prod): FAILED: 2 files, 1 sinks, 1 errors, 0 warnings\n"


def test_all_envs_checks_each_values_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--all-envs")
    assert code == 1
    assert out.splitlines() == [
        "sinks.d (env dev): ok: 2 files, 3 sinks, 0 errors, 0 warnings",
        "sinks.d (env prod): FAILED: 2 files, 1 sinks, 1 errors, 0 warnings",
    ]
    assert err.startswith("== environment prod ==\nsinks.d/tenants.yaml.j2:8:11: error:")


def test_github_annotations(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "broken.yaml").write_text(
        "name: b\nsettings:\n  instanceTypeName: kafka-sink\n  topic: [\n"
    )
    code, out, _ = run(capsys, "--all-envs", "--format", "github")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "::error file=sinks.d/broken.yaml,line=4,col=1,title=sinks validate (dev%2C prod)::"
        "invalid YAML: expected the node content in flow context, but got stream end"
        "%0Anote: while parsing a flow node at line 4"
    ) or lines[0].startswith("::error file=sinks.d/broken.yaml,line=")
    assert (
        "::error file=sinks.d/tenants.yaml.j2,line=8,col=11,title=sinks validate (prod)::"
        "compression:type: 'zsdt' is not one of None, Gzip, Snappy, Lz4, Zstd "
        "(did you mean 'Zstd'?)"
    ) in lines


def test_json_report(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--env", "dev", "--env", "prod", "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    dev, prod = report["environments"]
    assert (dev["env"], dev["ok"], dev["sinks"]) == ("dev", True, 3)
    (problem,) = prod["diagnostics"]
    assert (problem["path"], problem["line"], problem["column"], problem["key"]) == (
        "sinks.d/tenants.yaml.j2",
        8,
        11,
        "compression:type",
    )


def test_secret_never_printed_by_validate(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The secret lands where the value is checked, so the error message would quote it.
    (project / "leak.yaml.j2").write_text(
        "name: leak\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
        "  compression:\n    type: {{ secret('PW') }}\n"
    )
    for fmt in ("text", "json", "github"):
        code, out, err = run(capsys, "--all-envs", "--format", fmt)
        assert code == 1
        assert "'***' is not one of" in out + err
        assert SECRET not in out + err


def test_no_env_given_explains_undefined_values(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys)
    assert code == 1
    assert err == (
        "sinks.d/tenants.yaml.j2:1: error: undefined: 'tenants' is undefined\n"
        "  note: no environment given (--env): values from sinks.d/_values/<env>.yaml "
        "are not loaded\n"
    )


def test_cli_modules_import_no_client_library() -> None:
    code = (
        "import sys\n"
        "import engine.cli.main, engine.cli.cmd_render, engine.cli.cmd_validate, "
        "engine.cli.cmd_diff\n"
        "engine.cli.main.build_parser()\n"
        "libraries = ('confluent_kafka', 'esdbclient', 'kurrentdbclient', 'grpc')\n"
        "print(sorted(n for n in libraries if n in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_validate_as_a_subprocess(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "validate", "--env", "dev"],
        cwd=project.parent,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PW": SECRET, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "sinks.d (env dev): ok: 2 files, 3 sinks, 0 errors, 0 warnings\n"


def test_json_report_gives_related_places_as_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sinks = tmp_path / "sinks.d"
    sinks.mkdir()
    body = "name: orders\nsettings:\n  instanceTypeName: kafka-sink\n  topic: t\n"
    (sinks / "a.yaml").write_text(body)
    (sinks / "b.yaml").write_text(body)
    monkeypatch.chdir(tmp_path)
    code = main(["validate", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    first = report["environments"][0]["diagnostics"][0]
    assert first["message"] == "duplicate sink name 'orders' (also defined at sinks.d/b.yaml:1:7)"
    assert first["related"] == [
        {"path": "sinks.d/b.yaml", "line": 1, "column": 7, "relation": "also defined at"}
    ]
