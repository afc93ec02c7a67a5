"""scripts/deploy-agents under --dry-run: the gcloud commands it would run and the registry it writes."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from agent_client import load_registry
from tests.deploy import dockerfile

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy-agents"
BOT_SA = "spotrun-bot@demo-proj.iam.gserviceaccount.com"
BASE_ARGS = ["--project", "demo-proj", "--region", "europe-west1", "--bot-sa", BOT_SA, "--tag", "t1"]


def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == expect, done.stderr
    return done


def commands(stdout: str) -> list[list[str]]:
    return [
        shlex.split(line.removeprefix("DRY-RUN "))
        for line in stdout.splitlines()
        if line.startswith("DRY-RUN ")
    ]


@pytest.fixture(scope="module")
def script() -> Iterator[ModuleType]:
    loader = importlib.machinery.SourceFileLoader("deploy_agents", str(SCRIPT))
    spec = importlib.util.spec_from_loader("deploy_agents", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_agents"] = module  # dataclasses look their module up
    try:
        loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("deploy_agents", None)


def test_dry_run_prints_the_deploy_commands_and_writes_a_loadable_registry(tmp_path: Path) -> None:
    out = tmp_path / "agents-values.yaml"
    done = run(*BASE_ARGS, "--project-number", "123456789", "--registry-out", str(out), "--dry-run")
    cmds = commands(done.stdout)
    names = ["image-gen", "web-scraper", "data-analysis", "audio-video"]

    for name in names:
        replace = [c for c in cmds if c[1:4] == ["run", "services", "replace"] and name in c[4]]
        assert (
            len(replace) == 1
            and "--region=europe-west1" in replace[0]
            and "--project=demo-proj" in replace[0]
        )
        grant = [c for c in cmds if c[1:4] == ["run", "services", "add-iam-policy-binding"] and c[4] == name]
        assert len(grant) == 1
        assert f"--member=serviceAccount:{BOT_SA}" in grant[0] and "--role=roles/run.invoker" in grant[0]
        builds = [c for c in cmds if c[1:3] == ["builds", "submit"] and f"cloudbuild-{name}" in " ".join(c)]
        assert len(builds) == 1
        assert any(c[1:4] == ["run", "services", "describe"] and c[4] == name for c in cmds)
    assert not any("allUsers" in " ".join(c) for c in cmds)
    # The rendered service spec is shown, placeholders substituted.
    assert "image: europe-west1-docker.pkg.dev/demo-proj/spotrun/image-gen:t1" in done.stdout
    assert "serviceAccountName: spotrun-image-gen@demo-proj.iam.gserviceaccount.com" in done.stdout
    assert f"value: {BOT_SA}" in done.stdout
    assert "value: https://image-gen-123456789.europe-west1.run.app" in done.stdout

    registry = load_registry(out)
    assert [a.name for a in registry] == names
    scraper = registry.get("web-scraper")
    assert scraper.base_url == "https://web-scraper-123456789.europe-west1.run.app"
    assert scraper.id_token_audience == scraper.base_url
    assert scraper.auth == "google"
    assert registry.for_command("chart").name == "data-analysis"


def test_registry_is_valid_helm_values_for_the_chart(tmp_path: Path) -> None:
    helm_python = pytest.importorskip("helm_python")
    out = tmp_path / "agents-values.yaml"
    run(*BASE_ARGS, "--project-number", "42", "--registry-out", str(out), "--dry-run")
    values = {"discord": {"token": "t"}, **yaml.safe_load(out.read_text())}
    rendered = helm_python.Chart.load(str(ROOT / "helm" / "spotrun")).render(
        values, name="spotrun", namespace="x"
    )
    cm = yaml.safe_load(rendered["spotrun/templates/configmap.yaml"])
    assert "https://audio-video-42.europe-west1.run.app" in cm["data"]["agents.yaml"]
    assert "WARNING: agent" not in rendered["spotrun/templates/NOTES.txt"]


def test_subset_updates_only_its_entries(tmp_path: Path) -> None:
    out = tmp_path / "agents-values.yaml"
    run(*BASE_ARGS, "--project-number", "1", "--registry-out", str(out), "--dry-run")
    done = run(
        *BASE_ARGS,
        "--project-number",
        "2",
        "--agents",
        "data-analysis",
        "--registry-out",
        str(out),
        "--dry-run",
    )
    cmds = commands(done.stdout)
    assert {c[4] for c in cmds if c[1:4] == ["run", "services", "add-iam-policy-binding"]} == {
        "data-analysis"
    }
    registry = load_registry(out)
    assert len(registry.agents) == 4
    assert registry.get("data-analysis").base_url == "https://data-analysis-2.europe-west1.run.app"
    assert registry.get("image-gen").base_url == "https://image-gen-1.europe-west1.run.app"


def test_skip_build_and_errors() -> None:
    done = run(*BASE_ARGS, "--project-number", "1", "--skip-build", "--agents", "image-gen", "--dry-run")
    assert not [c for c in commands(done.stdout) if c[1:3] == ["builds", "submit"]]
    assert "agents:" in done.stdout  # no --registry-out: printed
    assert "unknown agent" in run(*BASE_ARGS, "--agents", "nope", "--dry-run", expect=2).stderr
    bad_sa = ["--project", "p", "--region", "r", "--bot-sa", "bot", "--dry-run"]
    assert "--bot-sa" in run(*bad_sa, expect=2).stderr


def test_agent_table_matches_service_specs_and_local_registry(script: ModuleType) -> None:
    local = load_registry(ROOT / "spotrun" / "agents.local.yaml")
    assert set(script.AGENTS) == {a.name for a in local}
    for name, agent in script.AGENTS.items():
        assert tuple(local.get(name).commands) == agent.commands
        spec = yaml.safe_load(agent.service_yaml.read_text())["spec"]["template"]
        limits = spec["spec"]["containers"][0]["resources"]["limits"]
        assert float(limits["cpu"]) == agent.cpu
        assert float(limits["memory"].removesuffix("Gi")) == agent.memory_gib
        assert spec["spec"]["timeoutSeconds"] == agent.timeout_s
        fleet = spec["spec"]["containerConcurrency"] * int(
            spec["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"]
        )
        assert agent.max_concurrency == fleet


def test_render_service_replaces_whole_placeholders_only(script: ModuleType) -> None:
    agent = script.AGENTS["audio-video"]
    text = script.render_service(agent, image="img:1", project="p", audience="https://a", bot_sa=BOT_SA)
    assert not re.search(r"\b(IMAGE|PROJECT_ID|AUDIENCE|BOT_SA)\b", text)
    assert "SPOTRUN_AGENT_AUDIENCE" in text  # a placeholder inside a longer name stays
    doc = yaml.safe_load(text)
    assert (
        doc["spec"]["template"]["spec"]["serviceAccountName"]
        == "spotrun-audio-video@p.iam.gserviceaccount.com"
    )


def test_each_agent_image_is_built_from_the_one_dockerfile_with_its_agent_arg() -> None:
    """Cloud Build gets `docker build --build-arg AGENT=<name>`: the stage with that agent's entry point
    and only its own code and locked extra, pushed under the name its service deploys."""
    done = run(*BASE_ARGS, "--project-number", "1", "--dry-run")
    blocks = re.findall(r"^# cloudbuild-([a-z-]+)\.json:\n(.*?)(?=^DRY-RUN )", done.stdout, re.M | re.S)
    configs = {name: json.loads(body) for name, body in blocks}
    assert sorted(configs) == sorted(["image-gen", "web-scraper", "data-analysis", "audio-video"])
    for name, config in configs.items():
        (step,) = config["steps"]
        image = f"europe-west1-docker.pkg.dev/demo-proj/spotrun/{name}:t1"
        assert step["args"] == ["build", "-f", "Dockerfile", "--build-arg", f"AGENT={name}", "-t", image, "."]
        assert "DOCKER_BUILDKIT=1" in step["env"]
        assert config["images"] == [image]
        assert dockerfile.image(name).entrypoint == ["spotrun", "agent", name]
