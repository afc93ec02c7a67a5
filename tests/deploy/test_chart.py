"""The Helm chart, rendered by real Helm (helm-python-sdk) and checked against Kubernetes' own schemas."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart_render import (
    BASE,
    CHART,
    CI_FILES,
    CUSTOM_KINDS,
    K8S_VERSION,
    ci_values,
    env_of,
    merged,
    one,
    pod_spec,
    render,
)

helm_python = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")


# --- lint, render, schema validation for every scenario --------------------------------------------------


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.stem)
def test_lint_is_clean(ci_file: Path) -> None:
    report = helm_python.lint(str(CHART), yaml.safe_load(ci_file.read_text()), strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.stem)
def test_every_manifest_is_valid_kubernetes(chart: Any, ci_file: Path) -> None:
    docs = render(chart, yaml.safe_load(ci_file.read_text()))
    assert docs
    validated = 0
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            check_custom_resource(doc)
            continue
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        validated += 1
    assert validated >= 5  # Deployment, ServiceAccount, ConfigMap, Service, Secret or PVC ...


def check_custom_resource(doc: dict[str, Any]) -> None:
    kind, spec = doc["kind"], doc["spec"]
    assert doc["metadata"]["namespace"] == "bots"
    if kind in ("PodMonitoring", "ServiceMonitor"):
        assert spec["selector"]["matchLabels"]["app.kubernetes.io/component"] == "bot"
        (endpoint,) = spec["endpoints"]
        assert endpoint["port"] == "ops" and endpoint["path"] == "/metrics"
    else:  # Rules / PrometheusRule share one rule set
        rules = {r["alert"]: r for g in spec["groups"] for r in g["rules"]}
        assert set(rules) == {
            "SpotrunAgentErrorRateHigh",
            "SpotrunAgentBreakerOpen",
            "SpotrunBudgetAt80Percent",
            "SpotrunBacklogGrowing",
            "SpotrunBotNotReady",
            "SpotrunShardWithoutHolder",
        }
        assert 'spotrun_agent_calls_total{outcome!="ok"}' in rules["SpotrunAgentErrorRateHigh"]["expr"]
        assert "spotrun_agent_breaker_state) == 2" in rules["SpotrunAgentBreakerOpen"]["expr"]
        assert "spotrun_budget_used_ratio) >= 0.8" in rules["SpotrunBudgetAt80Percent"]["expr"]
        assert "spotrun_jobs_queue_depth" in rules["SpotrunBacklogGrowing"]["expr"]
        assert (
            "== 0" in rules["SpotrunBotNotReady"]["expr"]
            and "spotrun_ready" in rules["SpotrunBotNotReady"]["expr"]
        )
        unheld = rules["SpotrunShardWithoutHolder"]["expr"]
        assert "sum(spotrun_shard_owned) < max(spotrun_shard_count)" in unheld
        for rule in rules.values():
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]


# --- what the bot needs on GKE Spot ----------------------------------------------------------------------


def test_defaults_pin_to_spot_and_tolerate_the_taint(chart: Any) -> None:
    docs = render(chart, BASE)
    spec = pod_spec(docs)
    assert spec["nodeSelector"] == {"cloud.google.com/gke-spot": "true"}
    assert {
        "key": "cloud.google.com/gke-spot",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in spec["tolerations"]
    assert env_of(docs)["SPOTRUN_NODE_SPOT"] == "true"


def test_spot_placement_is_overridable(chart: Any) -> None:
    # Helm merges maps: a default key goes away only when set to null.
    values = merged(
        BASE, {"nodeSelector": {"cloud.google.com/gke-spot": None, "pool": "general"}, "tolerations": []}
    )
    docs = render(chart, values)
    spec = pod_spec(docs)
    assert spec["nodeSelector"] == {"pool": "general"}
    assert "tolerations" not in spec
    assert env_of(docs)["SPOTRUN_NODE_SPOT"] == "false"


@pytest.mark.parametrize(("budget", "margin", "grace"), [(10, 2, 12), (5, 2, 7), (13, 2, 15), (13, 5, 15)])
def test_grace_period_follows_drain_budget_and_stays_within_spot_notice(
    chart: Any, budget: int, margin: int, grace: int
) -> None:
    docs = render(
        chart, merged(BASE, {"bot": {"drainBudgetSeconds": budget, "terminationMarginSeconds": margin}})
    )
    assert pod_spec(docs)["terminationGracePeriodSeconds"] == grace <= 15
    assert env_of(docs)["SPOTRUN_DRAIN_BUDGET_S"] == str(budget)


def test_one_replica_recreated_never_rolled(chart: Any) -> None:
    deployment = one(render(chart, BASE), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_probes_hit_healthz_and_readyz_on_the_ops_port(chart: Any) -> None:
    container = pod_spec(render(chart, BASE))["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert {"name": "ops", "containerPort": 8000, "protocol": "TCP"} in container["ports"]


def test_security_context_is_locked_down(chart: Any) -> None:
    spec = pod_spec(render(chart, BASE))
    pod, container = spec["securityContext"], spec["containers"][0]["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/data", "/tmp", "/etc/spotrun"} <= mounts


def test_environment_follows_the_bot_contract(chart: Any) -> None:
    values = merged(BASE, {"bot": {"ownerIds": ["123456789012345678"], "googleCloudProject": "proj"}})
    env = env_of(render(chart, values))
    assert env["SPOTRUN_DISCORD_TOKEN"] == {"secretKeyRef": {"name": "spotrun", "key": "token"}}
    assert env["SPOTRUN_DATABASE_URL"] == "sqlite:////data/spotrun.db"
    assert env["SPOTRUN_CLIENT_REGISTRY_FILE"] == "/etc/spotrun/agents.yaml"
    assert env["SPOTRUN_OPS_PORT"] == "8000"
    assert env["SPOTRUN_LOG_FORMAT"] == "json"
    assert env["SPOTRUN_OWNER_IDS"] == "123456789012345678"
    assert env["GOOGLE_CLOUD_PROJECT"] == "proj"
    assert env["SPOTRUN_NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["SPOTRUN_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_small_resources(chart: Any) -> None:
    resources = pod_spec(render(chart, BASE))["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


# --- identity, secrets, registry --------------------------------------------------------------------------


def test_workload_identity_annotation(chart: Any) -> None:
    gsa = "spotrun-bot@proj.iam.gserviceaccount.com"
    docs = render(chart, merged(BASE, {"serviceAccount": {"gcpServiceAccount": gsa}}))
    sa = one(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == gsa
    assert pod_spec(docs)["serviceAccountName"] == sa["metadata"]["name"]


def test_chart_created_secret_holds_the_token(chart: Any) -> None:
    import base64

    secret = one(render(chart, BASE), "Secret")
    assert base64.b64decode(secret["data"]["token"]).decode() == "test-token"


def test_existing_secret_is_used_and_none_created(chart: Any) -> None:
    docs = render(chart, ci_values("existing-secret"))
    assert not [d for d in docs if d["kind"] == "Secret"]
    env = env_of(docs)
    assert env["SPOTRUN_DISCORD_TOKEN"] == {"secretKeyRef": {"name": "spotrun-discord", "key": "bot-token"}}
    assert "checksum/secret" not in one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize(
    "discord",
    [{}, {"token": "a", "existingSecret": "b"}],
    ids=["neither", "both"],
)
def test_token_source_must_be_exactly_one(chart: Any, discord: dict[str, str]) -> None:
    with pytest.raises(helm_python.HelmError, match="discord"):
        render(chart, {"discord": discord})


def test_registry_configmap_is_loadable_and_mounted(chart: Any, tmp_path: Path) -> None:
    from agent_client import load_registry

    docs = render(chart, BASE)
    cm = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-agents"))
    path = tmp_path / "agents.yaml"
    path.write_text(cm["data"]["agents.yaml"])
    registry = load_registry(path)
    assert {a.name for a in registry} == {"image-gen", "web-scraper", "data-analysis", "audio-video"}
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    assert volumes["registry"]["configMap"]["name"] == cm["metadata"]["name"]


def test_checksum_annotation_rolls_the_pod_when_agents_change(chart: Any) -> None:
    def annotations(values: dict[str, Any]) -> dict[str, str]:
        docs = render(chart, values)
        return one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]

    before = annotations(BASE)
    agents = yaml.safe_load((CHART / "values.yaml").read_text())["agents"]
    agents[0]["base_url"] = "https://image-gen-123456789.europe-west1.run.app"
    after = annotations(merged(BASE, {"agents": agents}))
    assert before["checksum/config"] != after["checksum/config"]
    assert before["checksum/secret"] == after["checksum/secret"]
    # ... and it is the sha256 of the rendered ConfigMap, nothing else.
    rendered = chart.render(BASE, name="spotrun", namespace="bots")["spotrun/templates/configmap.yaml"]
    assert before["checksum/config"] == hashlib.sha256(rendered.encode()).hexdigest()
    token = annotations(merged(BASE, {"discord": {"token": "other"}}))
    assert token["checksum/secret"] != before["checksum/secret"]


# --- persistence -----------------------------------------------------------------------------------------


def test_pvc_by_default(chart: Any) -> None:
    docs = render(chart, BASE)
    pvc = one(docs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    data = {v["name"]: v for v in pod_spec(docs)["volumes"]}["data"]
    assert data["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


def test_storage_class_value(chart: Any) -> None:
    pvc = one(
        render(chart, merged(BASE, {"persistence": {"storageClass": "premium-rwo"}})), "PersistentVolumeClaim"
    )
    assert pvc["spec"]["storageClassName"] == "premium-rwo"


def test_no_persistence_means_emptydir(chart: Any) -> None:
    docs = render(chart, ci_values("no-persistence"))
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    data = {v["name"]: v for v in pod_spec(docs)["volumes"]}["data"]
    assert data == {"name": "data", "emptyDir": {}}


# --- monitoring and optional features ---------------------------------------------------------------------


def kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs}


def test_optional_features_are_off_by_default(chart: Any) -> None:
    found = kinds(render(chart, BASE))
    assert found == {
        "Deployment",
        "ServiceAccount",
        "Secret",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
    }


def test_gmp_scenario(chart: Any) -> None:
    docs = render(chart, ci_values("gmp-monitoring"))
    assert {"PodMonitoring", "Rules", "NetworkPolicy"} <= kinds(docs)
    assert not {"ServiceMonitor", "PrometheusRule"} & kinds(docs)
    assert one(docs, "PodMonitoring")["apiVersion"] == "monitoring.googleapis.com/v1"
    dashboard = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    import json

    panels = json.loads(dashboard["data"]["spotrun.json"])["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (
        "spotrun_jobs_total",
        "spotrun_jobs_queue_depth",
        "spotrun_job_seconds_bucket",
        "spotrun_agent_call_seconds_bucket",
        "spotrun_agent_calls_total",
        "spotrun_agent_breaker_state",
        "spotrun_cost_usd_total",
        "spotrun_id_token_refreshes_total",
    ):
        assert metric in exprs


def test_operator_scenario(chart: Any) -> None:
    docs = render(chart, ci_values("operator-monitoring"))
    assert {"ServiceMonitor", "PrometheusRule"} <= kinds(docs)
    assert not {"PodMonitoring", "Rules"} & kinds(docs)
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


def test_network_policy_egress(chart: Any) -> None:
    policy = one(render(chart, ci_values("gmp-monitoring")), "NetworkPolicy")
    egress = policy["spec"]["egress"]
    assert any(p["port"] == 53 for rule in egress for p in rule.get("ports", []))
    https = next(r for r in egress if any(p["port"] == 443 for p in r["ports"]))
    (block,) = https["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "10.0.0.0/8" in block["ipBlock"]["except"]


def test_selector_labels_carry_no_version(chart: Any) -> None:
    deployment = one(render(chart, BASE), "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert not {"helm.sh/chart", "app.kubernetes.io/version"} & set(selector)


# --- values.schema.json rejects wrong values --------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"replicaCount": "two"},
        {"replicaCount": 2},
        {"bot": {"drainBudgetSeconds": 60}},
        {"bot": {"drainBudgetSeconds": 0}},
        {"bot": {"logFormat": "xml"}},
        {"persistence": {"enabled": "yes"}},
        {"persistence": {"size": "lots"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"agents": []},
        {"agents": [{"name": "Bad Name", "base_url": "https://x.run.app", "commands": ["scrape"]}]},
        {"agents": [{"name": "x", "base_url": "https://x.run.app", "commands": ["scrape"], "typo": 1}]},
        {"serviceAccount": {"gcpServiceAccount": "not-an-email"}},
        {"bot": {"ownerIds": [123]}},
        {"unknownTopLevel": True},
    ],
    ids=repr,
)
def test_schema_rejects_wrong_values(chart: Any, bad: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmError):
        render(chart, merged(BASE, bad))


def test_every_value_is_documented() -> None:
    """Every key in values.yaml has a `# --` comment on it or on a parent (STYLE: comment every value)."""
    import re

    documented: list[tuple[int, bool]] = []  # (indent, documented) of the open parents
    missing = []
    pending = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        if not line.strip():
            pending = False
            continue
        if re.match(r"^\s*# -- ", line):
            pending = True
            continue
        if line.lstrip().startswith("#") or line.lstrip().startswith("- "):
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_.\-/]+):", line)
        if not m:
            continue
        indent = len(m.group(1))
        documented = [(i, d) for i, d in documented if i < indent]
        has_doc = pending or any(d for _, d in documented)
        leaf = not line.rstrip().endswith(":")
        if leaf and not has_doc:
            missing.append(m.group(2))
        documented.append((indent, has_doc))
        pending = False
    assert not missing, f"values without a comment: {missing}"


def test_readme_values_table_matches_values_yaml() -> None:
    """The chart README's values table has one row per `# --`-documented key of values.yaml, and no
    row for a key that is gone (the table is what operators read; values.yaml is what Helm reads)."""
    import re

    commented: set[str] = set()
    path: list[tuple[int, str]] = []  # (indent, key) of the open parents
    pending = False
    for line in (CHART / "values.yaml").read_text().splitlines():
        if not line.strip():
            pending = False
            continue
        if re.match(r"^\s*# -- ", line):
            pending = True
            continue
        if line.lstrip().startswith("#") or line.lstrip().startswith("- "):
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_.\-/]+):", line)
        if not m:
            continue
        indent = len(m.group(1))
        path = [(i, k) for i, k in path if i < indent] + [(indent, m.group(2))]
        if pending:
            commented.add(".".join(k for _, k in path))
        pending = False
    readme = (CHART / "README.md").read_text().partition("## Values")[2]
    rows = set(re.findall(r"^\| `([^`]+)` \|", readme, flags=re.MULTILINE))
    assert commented - rows == set(), "documented in values.yaml, missing from the README table"
    assert rows - commented == set(), "in the README table, gone from values.yaml"
