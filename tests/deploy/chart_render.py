"""Helpers to render the Helm chart with real Helm (helm-python-sdk) and pick manifests out of it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "spotrun"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
K8S_VERSION = "1.33"
# Custom resources have no schema in kubernetes-validate: skipped there, checked structurally by the tests.
CUSTOM_KINDS = {
    ("monitoring.googleapis.com/v1", "PodMonitoring"),
    ("monitoring.googleapis.com/v1", "Rules"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
BASE: dict[str, Any] = {"discord": {"token": "test-token"}}
WORKLOADS = ("Deployment", "StatefulSet")


def ci_values(name: str) -> dict[str, Any]:
    return yaml.safe_load((CHART / "ci" / f"{name}-values.yaml").read_text()) or {}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        _deep_merge(out, copy.deepcopy(layer))
    return out


def _deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _deep_merge(dst[key], value)
        else:
            dst[key] = value


def render_files(chart: Any, values: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = chart.render(values, name="spotrun", namespace="bots")
    return files


def render(chart: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in render_files(chart, values).items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def workload(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The bot's Deployment (SQLite mode) or StatefulSet (PostgreSQL mode): exactly one of them."""
    found = [d for d in docs if d["kind"] in WORKLOADS]
    assert len(found) == 1, f"expected one bot workload, got {[d['kind'] for d in found]}"
    return found[0]


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = workload(docs)["spec"]["template"]["spec"]
    return spec


def bot_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = [c for c in pod_spec(docs)["containers"] if c["name"] == "bot"]
    found: dict[str, Any] = container
    return found


def env_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in bot_container(docs)["env"]}
