"""The agents' Cloud Run service specs (agents/<pkg>/service.yaml): resources, scaling, identity, auth env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agents import AGENTS
from tests.deploy import dockerfile

ROOT = Path(__file__).resolve().parents[2]

# name: (cpu, memory, timeoutSeconds, maxScale, containerConcurrency upper bound) -- the design's numbers.
EXPECTED = {
    "image-gen": ("2", "2Gi", 60, "10", 8),
    "web-scraper": ("2", "4Gi", 300, "5", 16),
    "data-analysis": ("4", "8Gi", 600, "3", 1),
    "audio-video": ("4", "4Gi", 300, "5", 2),
}


def load(name: str) -> dict[str, Any]:
    package = AGENTS[name].rsplit(".", 1)[1]
    return yaml.safe_load((ROOT / "agents" / package / "service.yaml").read_text())


def env(spec: dict[str, Any]) -> dict[str, str]:
    (container,) = spec["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e["value"] for e in container["env"]}


def test_every_agent_has_a_service_spec() -> None:
    assert set(EXPECTED) == set(AGENTS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_knative_service_shape(name: str) -> None:
    svc = load(name)
    assert svc["apiVersion"] == "serving.knative.dev/v1" and svc["kind"] == "Service"
    assert svc["metadata"]["name"] == name
    assert svc["metadata"]["annotations"]["run.googleapis.com/ingress"] == "all"
    # Cloud Run labels: lowercase keys without '/' or '.'.
    for key in {**svc["metadata"]["labels"], **svc["spec"]["template"]["metadata"]["labels"]}:
        assert key.islower() and "/" not in key and "." not in key


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_resources_scaling_and_timeouts(name: str) -> None:
    cpu, memory, timeout, max_scale, max_concurrency = EXPECTED[name]
    template = load(name)["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    # Annotation values must be strings, or `gcloud run services replace` rejects the file.
    assert all(isinstance(v, str) for v in annotations.values())
    assert annotations["autoscaling.knative.dev/minScale"] == "0"
    assert annotations["autoscaling.knative.dev/maxScale"] == max_scale
    assert annotations["run.googleapis.com/startup-cpu-boost"] == "true"
    spec = template["spec"]
    assert spec["timeoutSeconds"] == timeout
    assert 1 <= spec["containerConcurrency"] <= max_concurrency
    (container,) = spec["containers"]
    assert container["resources"]["limits"] == {"cpu": cpu, "memory": memory}
    assert container["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert container["image"] == "IMAGE"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_own_service_account_and_authenticated_env(name: str) -> None:
    svc = load(name)
    assert svc["spec"]["template"]["spec"]["serviceAccountName"] == (
        f"spotrun-{name}@PROJECT_ID.iam.gserviceaccount.com"
    )
    values = env(svc)
    assert values["SPOTRUN_AGENT_AUTH"] == "google"
    assert values["SPOTRUN_AGENT_AUDIENCE"] == "AUDIENCE"
    assert values["SPOTRUN_AGENT_ALLOWED_CALLERS"] == "BOT_SA"
    assert values["SPOTRUN_AGENT_LOG_FORMAT"] == "json"
    assert "PORT" not in values  # reserved: Cloud Run sets it
    # The agent gives up before Cloud Run cuts the request (a 504 leaves the instance billing).
    deadline = float(values["SPOTRUN_AGENT_REQUEST_DEADLINE_S"])
    assert 0 < deadline < svc["spec"]["template"]["spec"]["timeoutSeconds"]


def test_cpu_heavy_agents_take_few_requests_per_instance() -> None:
    concurrency = {n: load(n)["spec"]["template"]["spec"]["containerConcurrency"] for n in EXPECTED}
    assert concurrency["data-analysis"] <= concurrency["audio-video"] < concurrency["web-scraper"]


def test_no_public_invoker_anywhere() -> None:
    for name in EXPECTED:
        package = AGENTS[name].rsplit(".", 1)[1]
        # Parsed, so the file's comments (which explain this) do not count.
        text = yaml.safe_dump(yaml.safe_load((ROOT / "agents" / package / "service.yaml").read_text()))
        assert "allUsers" not in text and "allAuthenticatedUsers" not in text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dockerfile_builds_the_agent(name: str) -> None:
    """`--build-arg AGENT=<name>` gives the Cloud Run contract: the agent's entry point, $PORT 8080,
    a non-root user, and its own locked dependencies."""
    image = dockerfile.image(name)
    assert image.entrypoint == ["spotrun", "agent", name] and image.cmd == []
    assert image.user == "10001:10001" and image.env["PORT"] == "8080"
    assert (ROOT / "requirements" / "images" / f"{name}.txt").is_file()


def test_dockerfile_builds_the_bot() -> None:
    image = dockerfile.image("bot")
    assert image.entrypoint == ["spotrun"] and image.cmd == ["bot"]
    assert image.user == "10001:10001" and image.workdir == "/data"
    assert image.env["SPOTRUN_OPS_PORT"] == "8000"
    # Cloud Build and a plain `docker build` pull the official slim Python; CI passes local bases.
    assert dockerfile.global_args()["BASE_IMAGE"] == "python:3.11-slim-bookworm"
