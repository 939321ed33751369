"""examples/deploy: the Grafana dashboard queries only metrics the engine exports, and
the Kubernetes manifests, systemd unit and Dockerfile run real `sinks` commands with
the settings they claim (probes, grace period above the shutdown deadline, ...).

The container files cannot be built here (no container engine); what can be checked
without building them is checked."""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from engine.cli.main import build_parser
from engine.config.loader import load_directory
from engine.runtime.worker_api import SinkState
from engine.supervisor.group.options import from_args as cluster_options
from engine.supervisor.metrics import EngineMetrics
from engine.supervisor.status import StatusServer

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "examples/deploy"
DASHBOARD = DEPLOY / "grafana/kafka-sinks-engine.json"
K8S = DEPLOY / "kubernetes"
METRIC = re.compile(r"\bsinks_[a-z_]+\b")
SELECTOR = re.compile(r"\{([^}]*)\}")
GROUPING = re.compile(r"\bby \(([^)]*)\)")


# ------------------------------------------------------------------------- dashboard


def exported() -> dict[str, set[str]]:
    """Every sample name the engine's /metrics serves, with the labels it carries."""
    metrics = EngineMetrics()
    metrics.on_state("orders", SinkState.RUNNING, None)
    metrics.on_read("orders", 3)
    metrics.on_delivered("orders", 2, [0.004, 0.2])
    metrics.on_failed("orders", 1)
    metrics.on_checkpoint("orders", 1234)
    metrics.set_lag({"orders": 10})
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            queries.append(variable["definition"])
    return queries


def problems(query: str, served: dict[str, set[str]]) -> list[str]:
    """What is wrong with one query: no engine metric, an unknown metric or label."""
    names = set(METRIC.findall(query))
    if not names:
        return ["reads no engine metric"]
    unknown = sorted(names - set(served))
    if unknown:
        return [f"not exported by the engine: {unknown}"]
    labels = set().union(*(served[n] for n in names)) | {"le"}
    found = []
    for selector in SELECTOR.findall(query):
        for matcher in filter(None, (m.strip() for m in selector.split(","))):
            label = re.split(r"[=!~]", matcher, maxsplit=1)[0].strip()
            if label not in labels:
                found.append(f"label {label!r} is not on {sorted(names)}")
    for grouping in GROUPING.findall(query):
        for label in (g.strip() for g in grouping.split(",")):
            if label not in labels:
                found.append(f"groups by {label!r}, not on {sorted(names)}")
    return found


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    served = exported()
    queries = dashboard_queries()
    assert len(queries) >= 10
    assert {q: problems(q, served) for q in queries if problems(q, served)} == {}
    used = {name for q in queries for name in METRIC.findall(q)}
    # the dashboard shows the engine's main signals, not a token one
    assert {
        "sinks_messages_produced_total",
        "sinks_messages_failed_total",
        "sinks_lag_positions",
        "sinks_state",
        "sinks_delivery_latency_seconds_bucket",
    } <= used


def test_the_check_catches_wrong_names_and_labels() -> None:
    served = exported()
    assert problems("rate(sinks_messages_delivered_total[5m])", served) == [
        "not exported by the engine: ['sinks_messages_delivered_total']"
    ]
    assert problems('sum by (topic) (sinks_lag_positions{sink="a"})', served) == [
        "groups by 'topic', not on ['sinks_lag_positions']"
    ]
    assert problems('sinks_state{status="FAILED"}', served) == [
        "label 'status' is not on ['sinks_state']"
    ]
    assert problems("up", served) == ["reads no engine metric"]


def test_dashboard_panels_are_laid_out_and_use_the_datasource_variable() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


# ------------------------------------------------------------------------ kubernetes


def manifests() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for file in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                found[doc["kind"]] = doc
    return found


def run_args(argv: list[str]) -> argparse.Namespace:
    """Parse a `sinks run ...` command line with the engine's own parser."""
    return build_parser().parse_args(list(argv))


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.stem != "kustomization")


def test_deployment_runs_two_replicas_in_one_group() -> None:
    deployment = manifests()["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    argv = container["args"]
    assert argv[0] == "run"
    assert argv[argv.index("--group") + 1] == "kafka-sinks-engine"
    assert argv[argv.index("--group-bootstrap") + 1]
    args = run_args(argv)
    assert args.command == "run"
    cluster = cluster_options(args)  # the group flags as `sinks run` reads them
    assert cluster is not None and cluster.group == "kafka-sinks-engine"
    host, _, port = args.status_addr.rpartition(":")
    assert host == "0.0.0.0"  # the kubelet probes from outside the pod
    assert container["ports"] == [{"name": "status", "containerPort": int(port)}]
    # SIGTERM grace above the engine's own stop deadline
    assert pod["terminationGracePeriodSeconds"] > args.shutdown_timeout
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "status"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "status"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["sinks"] == args.dir
    assert volumes["sinks"]["configMap"]["name"] == manifests()["ConfigMap"]["metadata"]["name"]


def test_the_probed_paths_answer_as_the_manifest_expects() -> None:
    class Source:
        last_reload = None

        def views(self) -> list[Any]:
            return []

    server = StatusServer(Source(), None, "127.0.0.1:0")
    assert server.respond("/healthz")[0] == 200
    assert server.respond("/readyz")[0] == 200  # nothing to wait for: ready


def test_secrets_come_from_the_secret_and_reach_the_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = manifests()
    secret = docs["Secret"]
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"]
        env[item["name"]] = secret["stringData"][ref["key"]]
    assert "KURRENTDB_URL" in env
    # the ConfigMap's files, laid out the way Kubernetes mounts a ConfigMap: the
    # files are links through ..data to a hidden, timestamped folder
    root = tmp_path / "sinks.d"
    stamp = root / "..2026_12_01_09_00_00.000000001"
    stamp.mkdir(parents=True)
    (root / "..data").symlink_to(stamp.name)
    for name, text in docs["ConfigMap"]["data"].items():
        (stamp / name).write_text(text)
        (root / name).symlink_to(f"..data/{name}")
    result = load_directory(root, environ={**os.environ, **env})
    assert [d.format() for d in result.diagnostics] == []
    names = sorted(d.name for d in result.definitions)
    assert names == ["orders", "payments"]
    orders = next(d for d in result.definitions if d.name == "orders")
    assert orders.canonical["authentication:password"] == env["KAFKA_PASSWORD"]


def test_pod_disruption_budget_keeps_a_member() -> None:
    pdb = manifests()["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    labels = manifests()["Deployment"]["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"] == labels


# --------------------------------------------------------------------- systemd, docker


def test_systemd_unit_runs_the_engine_with_a_longer_stop_timeout() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd/kafka-sinks-engine.service").read_text())
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/sinks")
    args = run_args(argv[1:])
    assert args.command == "run"
    assert int(service["TimeoutStopSec"]) > args.shutdown_timeout
    assert service["KillSignal"] == "SIGTERM"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    check = shlex.split(service["ExecStartPre"])
    assert build_parser().parse_args(check[1:]).command == "validate"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_dockerfile_runs_a_real_command() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    command = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entry == ["sinks"]
    args = run_args(command)
    assert args.command == "run"
    assert args.status_addr.endswith(":7781")
    assert "EXPOSE 7781" in text
    assert re.search(r"^USER 10001$", text, re.M)
