"""Every example validates for every environment, and the CI/pre-commit files hold up."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.cli.main import build_parser
from engine.config.loader import load_directory
from engine.config.templating import MissingSecrets, list_envs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_DIRS = sorted(
    p for p in [ROOT / "sinks.d", *ROOT.glob("examples/**/sinks.d")] if p.is_dir()
)
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)


def cases() -> list[tuple[Path, str | None]]:
    found: list[tuple[Path, str | None]] = []
    for folder in EXAMPLE_DIRS:
        envs: list[str | None] = list(list_envs(folder)) or [None]
        found.extend((folder, env) for env in envs)
    return found


def test_the_examples_exist() -> None:
    names = {str(p.relative_to(ROOT)) for p in EXAMPLE_DIRS}
    assert {"sinks.d", "examples/multi-env/sinks.d"} <= names
    assert list_envs(ROOT / "examples/multi-env/sinks.d") == ["dev", "prod"]


@pytest.mark.parametrize(
    ("folder", "env"),
    cases(),
    ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else str(v),
)
def test_example_is_valid(folder: Path, env: str | None) -> None:
    # Secrets are not at hand here: placeholders stand in, as in CI.
    result = load_directory(
        folder,
        env=env,
        missing_secrets=MissingSecrets.PLACEHOLDER,
        environ={"SINKS_SECRET_DIRS": "/run/secrets/sinks"},
    )
    errors = [d.format() for d in result.errors]
    assert errors == []
    assert result.definitions


def test_multi_env_generates_one_sink_per_tenant() -> None:
    folder = ROOT / "examples/multi-env/sinks.d"
    environ = {"SINKS_SECRET_DIRS": "/run/secrets/sinks", "KAFKA_PASSWORD": "kp-123456"}
    for env, tenants in (("dev", 2), ("prod", 3)):
        result = load_directory(
            folder, env=env, missing_secrets=MissingSecrets.PLACEHOLDER, environ=environ
        )
        names = [s.name for s in result.definitions]
        assert len([n for n in names if n.startswith("tenant-")]) == tenants
        assert {"orders", "audit"} <= set(names)
    prod = load_directory(
        folder, env="prod", missing_secrets=MissingSecrets.PLACEHOLDER, environ=environ
    )
    orders = next(s for s in prod.definitions if s.name == "orders")
    assert orders.canonical["authentication:password"] == "kp-123456"
    assert "kp-123456" in prod.secrets.values


def test_schema_comments_point_at_the_generated_schema() -> None:
    schema = json.loads((ROOT / "schema/sink.schema.json").read_text())
    checked = 0
    for folder in (ROOT / "sinks.d", ROOT / "examples/multi-env/sinks.d"):
        for file in sorted(folder.glob("*.yaml")):
            if file.name.endswith(".test.yaml"):  # config tests, not sink files
                continue
            text = file.read_text()
            match = SCHEMA_LINE.search(text)
            assert match, f"{file} has no yaml-language-server schema line"
            target = (file.parent / match.group(1)).resolve()
            assert target == (ROOT / "schema/sink.schema.json").resolve()
            for document in yaml.safe_load_all(text):
                jsonschema.validate(document, schema)
                checked += 1
    assert checked >= 2


def _sinks_commands(text: str) -> list[list[str]]:
    commands = []
    for line in text.splitlines():
        line = line.strip().removeprefix("run:").removeprefix("entry:").strip()
        if line.startswith("sinks "):
            commands.append(shlex.split(line.rstrip("\\").replace("${{ github.base_ref }}", "x")))
    return commands


def test_ci_and_pre_commit_use_real_options() -> None:
    workflow = (ROOT / "examples/ci/github-workflow.yaml").read_text()
    hooks_text = (ROOT / "examples/pre-commit/.pre-commit-hooks.yaml").read_text()
    assert yaml.safe_load(workflow)["jobs"]["validate"]["steps"]
    hooks = yaml.safe_load(hooks_text)
    assert {h["id"] for h in hooks} == {"sinks-validate", "sinks-render"}
    commands = _sinks_commands(workflow) + _sinks_commands(hooks_text)
    assert len(commands) >= 4
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv[1:])  # SystemExit on an unknown option
        assert args.command in {"validate", "diff", "render"}
    assert any("--all-envs" in c and "github" in c for c in commands)
    assert any("--against" in c for c in commands)
