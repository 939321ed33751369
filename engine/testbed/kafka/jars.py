"""Apache Kafka broker jars, resolved once with Maven into a per-user cache.

Guarantees:

* ``resolve_jars()`` returns a directory holding every runtime jar of the pinned
  Kafka release (``KAFKA_VERSION``) plus a Log4j 2 backend, ready for ``java -cp DIR/*``.
* Resolution happens only when the cache lacks a marker for the exact pinned
  dependency list; a finished resolution writes the marker last, so an interrupted
  one is redone on the next call. Concurrent callers are serialised by a file lock.
* Maven runs with its default settings (whatever repositories the user's Maven
  configuration names); nothing here names a repository.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.specification.errors import EngineError

KAFKA_VERSION = "4.1.1"
SCALA_BINARY = "2.13"
LOG4J_VERSION = "2.24.3"
# Kafka's own modules still pull slf4j-api 1.7, which cannot bind the Log4j 2 backend.
SLF4J_VERSION = "2.0.17"

MARKER_NAME = ".resolved"


@dataclass(frozen=True, slots=True)
class Artifact:
    group: str
    artifact: str
    version: str

    def coordinates(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


# kafka_2.13 holds kafka.Kafka, StorageTool and DumpLogSegments; the others are
# named so their versions are pinned together even if the core pom changes.
ARTIFACTS: tuple[Artifact, ...] = (
    Artifact("org.apache.kafka", f"kafka_{SCALA_BINARY}", KAFKA_VERSION),
    Artifact("org.apache.kafka", "kafka-server", KAFKA_VERSION),
    Artifact("org.apache.kafka", "kafka-storage", KAFKA_VERSION),
    Artifact("org.apache.kafka", "kafka-clients", KAFKA_VERSION),
    Artifact("org.slf4j", "slf4j-api", SLF4J_VERSION),
    Artifact("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
    Artifact("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
)


class JarResolutionError(EngineError):
    """Maven or Java is missing, or Maven could not resolve the pinned release."""


def render_pom(artifacts: tuple[Artifact, ...] = ARTIFACTS) -> str:
    deps = "\n".join(
        "    <dependency>"
        f"<groupId>{a.group}</groupId><artifactId>{a.artifact}</artifactId>"
        f"<version>{a.version}</version></dependency>"
        for a in artifacts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>kafka-sinks-engine.testbed</groupId>\n"
        f"  <artifactId>kafka-broker-runtime-{KAFKA_VERSION}</artifactId>\n"
        "  <version>1</version>\n"
        "  <packaging>pom</packaging>\n"
        "  <dependencies>\n"
        f"{deps}\n"
        "  </dependencies>\n"
        "</project>\n"
    )


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kafka-sinks-engine"


def cache_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / f"kafka-{KAFKA_VERSION}"


def _marker_text(pom: str) -> str:
    # The pom lists every pinned coordinate, so its digest changes with any pin.
    digest = hashlib.sha256(pom.encode()).hexdigest()
    return f"kafka {KAFKA_VERSION}\npom-sha256 {digest}\n"


def is_resolved(root: Path | None = None) -> bool:
    directory = cache_dir(root)
    marker = directory / MARKER_NAME
    libs = directory / "libs"
    return (
        marker.is_file()
        and marker.read_text() == _marker_text(render_pom())
        and any(libs.glob(f"kafka_{SCALA_BINARY}-{KAFKA_VERSION}.jar"))
    )


def resolve_jars(
    *, root: Path | None = None, maven_repo: Path | None = None, quiet: bool = False
) -> Path:
    """Return the directory of broker jars, running Maven first if the cache is stale.

    ``maven_repo`` points Maven at another local repository (an empty one
    simulates a first run on a clean machine).
    """
    directory = cache_dir(root)
    libs = directory / "libs"
    if is_resolved(root):
        return libs
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_resolved(root):  # another process finished while we waited
            return libs
        _run_maven(directory, libs, maven_repo, quiet)
    return libs


def _run_maven(directory: Path, libs: Path, maven_repo: Path | None, quiet: bool) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError(
            "Maven ('mvn') is not on PATH; it is needed once to fetch the Kafka broker jars"
        )
    pom_text = render_pom()
    pom = directory / "pom.xml"
    pom.write_text(pom_text)
    (directory / MARKER_NAME).unlink(missing_ok=True)
    # Start from an empty folder so jars of an older pin never share the classpath.
    shutil.rmtree(libs, ignore_errors=True)
    command = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    if maven_repo is not None:
        command.append(f"-Dmaven.repo.local={maven_repo}")
    started = time.monotonic()
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=1800
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise JarResolutionError(
            f"mvn failed (exit {result.returncode}) resolving Kafka {KAFKA_VERSION}:\n"
            + (result.stdout + result.stderr)[-4000:]
        )
    count = len(list(libs.glob("*.jar")))
    (directory / MARKER_NAME).write_text(_marker_text(pom_text))
    if not quiet:
        print(
            f"kafka testbed: resolved Kafka {KAFKA_VERSION} ({count} jars) into {libs} "
            f"in {elapsed:.1f}s",
            file=sys.stderr,
        )
