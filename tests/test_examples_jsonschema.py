"""Every example sink file passes check-jsonschema, in its default mode, against the schema.

check-jsonschema compiles patterns as ECMA-262 (unicode) regexes, as editors do, so this
also proves the generated schema is usable outside this engine. Plain files are checked
as written; templates are checked as rendered for each environment (as written).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from py_mini_racer import MiniRacer

from engine.config.loader import is_sink_file
from engine.config.templating import MissingSecrets, TemplateContext, list_envs

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema/sink.schema.json"
FOLDERS = sorted(p for p in [ROOT / "sinks.d", *ROOT.glob("examples/*/sinks.d")] if p.is_dir())


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(SCHEMA), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def example_files(tmp: Path) -> list[Path]:
    """Plain sink files as they are, templates rendered per environment into ``tmp``."""
    found: list[Path] = []
    for folder in FOLDERS:
        for file in sorted(folder.iterdir()):
            if not file.is_file() or not is_sink_file(file.name):
                continue
            if not file.name.endswith(".j2"):
                found.append(file)
                continue
            for env in list_envs(folder) or [None]:
                context = TemplateContext(
                    folder,
                    str(folder),
                    env=env,
                    missing_secrets=MissingSecrets.PLACEHOLDER,
                    environ={"SINKS_SECRET_DIRS": "/run/secrets/sinks"},
                )
                outcome = context.render(file, str(file), file.read_text())
                assert outcome.text is not None, outcome.diagnostics
                rendered = tmp / f"{folder.parent.name}-{env}-{file.name[: -len('.j2')]}"
                rendered.write_text(outcome.text)
                found.append(rendered)
    return found


def split_documents(files: list[Path], tmp: Path) -> list[Path]:
    """check-jsonschema reads one document per file: one file per YAML document."""
    out: list[Path] = []
    for file in files:
        for i, doc in enumerate(yaml.safe_load_all(file.read_text())):
            if doc is None:
                continue
            target = tmp / f"{file.name}.{i}.json"
            target.write_text(json.dumps(doc))
            out.append(target)
    return out


def test_every_example_passes_check_jsonschema(tmp_path: Path) -> None:
    files = split_documents(example_files(tmp_path), tmp_path)
    assert len(files) >= 8  # sinks.d, docker-compose, multi-env (dev and prod, per tenant)
    result = check_jsonschema(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_check_jsonschema_refuses_a_broken_file(tmp_path: Path) -> None:
    # The check can fail: a bad enum value is reported against the schema.
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "settings": {"topic": "t", "instanceTypeName": "nope"}}')
    result = check_jsonschema(bad)
    assert result.returncode == 1
    assert "instanceTypeName" in result.stdout


def patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            elif key == "patternProperties":
                yield from value
            yield from patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from patterns(item)


def test_every_schema_pattern_compiles_as_an_ecmascript_unicode_regex() -> None:
    found = sorted(set(patterns(json.loads(SCHEMA.read_text()))))
    assert len(found) >= 10
    js = MiniRacer()
    refused = {
        p: js.eval(f"try {{ new RegExp({json.dumps(p)}, 'u'); '' }} catch (e) {{ String(e) }}")
        for p in found
    }
    assert {p: e for p, e in refused.items() if e} == {}
