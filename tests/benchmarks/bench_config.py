"""Benchmark: how long loading a large sinks.d/ and a cold ``sinks validate`` take.

1. Generates N sink files (default 1,000), half of them ``.yaml.j2`` templates using
   values, a shared macro and a secret, and times ``load_directory`` (render + parse +
   canonicalise + validate), best and median of several runs. Baseline in the same
   run: ``yaml.safe_load`` of the same bytes (parsing alone, no marks, no checks).
   Target: < 2 s for 1,000 files.
2. Times ``sinks validate`` as a fresh subprocess on 10 files (imports included).
   Baseline in the same run: a bare ``python -c pass``. Target: < 0.5 s.

Prints one JSON document.

    .venv/bin/python tests/benchmarks/bench_config.py [--files 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.config.loader import load_directory  # noqa: E402

PLAIN = """\
# yaml-language-server: $schema=../schema/sink.schema.json
name: plain-{i}
description: Generated sink number {i}
labels:
  team: team-{team}
settings:
  instanceTypeName: kafka-sink
  topic: topic-{i}
  bootstrapServers: localhost:9092
  subscription:
    filter:
      scope: stream
      filterType: prefix
      expression: stream-{i}-
  partitionKeyExtraction:
    enabled: true
    source: streamSuffix
  compression:
    type: zstd
    level: 3
  resilience:
    transientErrorDelay: "00:00:05"
  defaultHeaders:
    X-Source: kurrentdb
"""

TEMPLATE = """\
{{% import "common.j2" as common %}}
name: templated-{i}
labels:
  env: {{{{ environment }}}}
settings:
  instanceTypeName: kafka-sink
  topic: {{{{ prefix }}}}.topic-{i}
{{{{ common.connection() }}}}
  subscription:
    filter:
      scope: stream
      expression: stream-{i}
  compression:
    type: {{{{ compression }}}}
"""

MACRO = """\
{% macro connection() %}
  bootstrapServers: {{ servers | tojson }}
  authentication:
    securityProtocol: SaslSsl
    username: svc
    password: {{ secret("BENCH_PW") | tojson }}
{% endmacro %}
"""

VALUES = "prefix: bench\nservers: k1:9093,k2:9093\ncompression: lz4\n"


def generate(root: Path, count: int) -> None:
    (root / "_values").mkdir(parents=True)
    (root / "_templates").mkdir()
    (root / "_values" / "bench.yaml").write_text(VALUES)
    (root / "_templates" / "common.j2").write_text(MACRO)
    for i in range(count):
        if i % 2:
            (root / f"t{i:05d}.yaml.j2").write_text(TEMPLATE.format(i=i))
        else:
            (root / f"p{i:05d}.yaml").write_text(PLAIN.format(i=i, team=i % 7))


def time_load(root: Path, runs: int) -> tuple[list[float], int]:
    times = []
    sinks = 0
    for _ in range(runs):
        start = time.perf_counter()
        result = load_directory(root, env="bench", environ={"BENCH_PW": "bench-pw"})
        times.append(time.perf_counter() - start)
        if not result.ok:
            raise SystemExit("\n".join(d.format() for d in result.errors[:5]))
        sinks = len(result.definitions)
    return times, sinks


def time_safe_load(root: Path, runs: int) -> list[float]:
    texts = [p.read_text() for p in sorted(root.glob("p*.yaml"))]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for text in texts:
            list(yaml.load_all(text, Loader=loader))
        # Same number of files as the loader handles: scale the plain half to the whole.
        times.append((time.perf_counter() - start) * 2)
    return times


def time_process(argv: list[str], cwd: Path, runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_PW": "bench-pw"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(done.stdout + done.stderr)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-config-") as tmp:
        big = Path(tmp) / "big" / "sinks.d"
        generate(big, args.files)
        load_times, sinks = time_load(big, args.runs)
        parse_times = time_safe_load(big, args.runs)
        small = Path(tmp) / "small" / "sinks.d"
        generate(small, 10)
        validate = time_process(
            [sys.executable, "-m", "engine.cli.main", "validate", "--env", "bench"],
            small.parent,
            args.runs,
        )
        bare = time_process([sys.executable, "-c", "pass"], small.parent, args.runs)
    # The first run also compiles every template (compiled code is then cached in memory).
    first_load, warm = load_times[0], load_times[1:] or load_times
    best_load = min(warm)
    report = {
        "files": args.files,
        "templates": args.files // 2,
        "sinks": sinks,
        "load_directory_s": {
            "first_run": first_load,
            "warm_best": best_load,
            "warm_median": statistics.median(warm),
        },
        "per_file_ms": best_load / args.files * 1000,
        "baseline_libyaml_safe_load_s": min(parse_times),
        "ratio_first_run_vs_safe_load": first_load / min(parse_times),
        "target_load_s": 2.0,
        "first_run_within_target": first_load < 2.0,
        "warm_within_target": best_load < 2.0,
        "load_average_1min": os.getloadavg()[0],
        "cold_validate_10_files_s": {"best": min(validate), "median": statistics.median(validate)},
        "baseline_python_startup_s": min(bare),
        "ratio_validate_vs_startup": min(validate) / min(bare),
        "target_validate_s": 0.5,
        "validate_within_target": min(validate) < 0.5,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
