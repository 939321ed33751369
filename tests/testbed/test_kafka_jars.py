"""Jar cache: the pom pins the release, the marker decides when Maven runs again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.testbed.kafka import jars
from engine.testbed.kafka.jars import (
    KAFKA_VERSION,
    JarResolutionError,
    is_resolved,
    render_pom,
    resolve_jars,
)


def test_pom_pins_every_artifact_and_names_no_repository() -> None:
    pom = render_pom()
    assert f"<artifactId>kafka_2.13</artifactId><version>{KAFKA_VERSION}</version>" in pom
    assert "<artifactId>log4j-slf4j2-impl</artifactId>" in pom
    assert "<repositories>" not in pom
    assert "http" not in pom.replace("http://maven.apache.org/POM/4.0.0", "")


def _fake_cache(root: Path, marker: str) -> Path:
    libs = root / f"kafka-{KAFKA_VERSION}" / "libs"
    libs.mkdir(parents=True)
    (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").write_bytes(b"")
    (root / f"kafka-{KAFKA_VERSION}" / ".resolved").write_text(marker)
    return libs


def test_a_matching_marker_skips_maven(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    libs = _fake_cache(tmp_path, jars._marker_text(render_pom()))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # mvn cannot run

    assert is_resolved(tmp_path)
    assert resolve_jars(root=tmp_path, quiet=True) == libs


def test_a_stale_marker_runs_maven_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_cache(tmp_path, "kafka 3.9.0\npom-sha256 0\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))

    assert not is_resolved(tmp_path)
    with pytest.raises(JarResolutionError, match=r"Maven \('mvn'\) is not on PATH"):
        resolve_jars(root=tmp_path, quiet=True)


def test_resolve_command_reports_the_cached_jars() -> None:
    # .ci/run resolves before the tests, so the user cache is warm here.
    result = subprocess.run(
        [sys.executable, "-m", "engine.testbed.kafka", "resolve"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    libs = resolve_jars(quiet=True)
    assert str(libs) in result.stdout
    assert (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file()
    assert (libs / f"kafka-clients-{KAFKA_VERSION}.jar").is_file()
