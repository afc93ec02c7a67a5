"""The chart's PostgreSQL mode: a StatefulSet of pods leasing shards, rendered by real Helm and validated."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.deploy.chart_render import (
    BASE,
    CUSTOM_KINDS,
    ci_values,
    env_of,
    merged,
    one,
    pod_spec,
    render,
    render_files,
    workload,
)

helm_python = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

PG_SCENARIOS = ("standby", "sharded", "cloudsql")
GSA = "spotrun-bot@example-project.iam.gserviceaccount.com"
IAM_USER = "spotrun-bot@example-project.iam"  # the GSA email without .gserviceaccount.com
INSTANCE = "example-project:europe-west1:spotrun-db"
# A database configured without Cloud SQL: the smallest switch into PostgreSQL mode.
PG = merged(BASE, {"database": {"url": "postgresql://spotrun@db.internal:5432/spotrun"}})
CLOUDSQL = merged(
    BASE, {"serviceAccount": {"gcpServiceAccount": GSA}, "cloudSql": {"instanceConnectionName": INSTANCE}}
)


def kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs}


def proxy_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (proxy,) = [c for c in pod_spec(docs).get("initContainers", []) if c["name"] == "cloud-sql-proxy"]
    found: dict[str, Any] = proxy
    return found


# --- the workload ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_postgres_mode_is_a_rolling_statefulset_without_a_disk(chart: Any, scenario: str) -> None:
    docs = render(chart, ci_values(scenario))
    sts = workload(docs)
    assert sts["kind"] == "StatefulSet"
    assert "PersistentVolumeClaim" not in kinds(docs)
    assert "volumeClaimTemplates" not in sts["spec"]
    spec = sts["spec"]
    assert spec["updateStrategy"] == {"type": "RollingUpdate"}
    # Parallel: a pod stuck Pending (a zone out of Spot capacity) must not hold back the others.
    assert spec["podManagementPolicy"] == "Parallel"
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert "data" not in volumes and not any("persistentVolumeClaim" in v for v in volumes.values())
    mounts = {m["mountPath"] for m in spec["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert "/data" not in mounts and {"/tmp", "/etc/spotrun"} <= mounts


@pytest.mark.parametrize(("scenario", "replicas"), [("standby", 2), ("sharded", 4), ("cloudsql", 2)])
def test_replicas_and_governing_service(chart: Any, scenario: str, replicas: int) -> None:
    docs = render(chart, ci_values(scenario))
    sts = workload(docs)
    assert sts["spec"]["replicas"] == replicas
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    governing = services[sts["spec"]["serviceName"]]
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    assert "spotrun" in services  # the ops/metrics Service stays


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_spread_across_zones_and_nodes(chart: Any, scenario: str) -> None:
    docs = render(chart, ci_values(scenario))
    selector = workload(docs)["spec"]["selector"]["matchLabels"]
    spread = {c["topologyKey"]: c for c in pod_spec(docs)["topologySpreadConstraints"]}
    assert set(spread) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"] == {"matchLabels": selector}
    # A zone out of Spot capacity must not leave a pod Pending; two pods on one node die together.
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"


def test_spread_is_tunable_and_can_be_switched_off(chart: Any) -> None:
    docs = render(chart, merged(PG, {"topologySpread": {"zone": "DoNotSchedule", "node": ""}}))
    (only,) = pod_spec(docs)["topologySpreadConstraints"]
    assert only["topologyKey"] == "topology.kubernetes.io/zone"
    assert only["whenUnsatisfiable"] == "DoNotSchedule"
    docs = render(chart, merged(PG, {"topologySpread": {"zone": "", "node": ""}}))
    assert "topologySpreadConstraints" not in pod_spec(docs)


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_disruption_budget_lets_one_pod_go_at_a_time(chart: Any, scenario: str) -> None:
    docs = render(chart, ci_values(scenario))
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"] == workload(docs)["spec"]["selector"]
    # A crash-looping pod must not block a node drain.
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_sqlite_mode_has_no_disruption_budget_or_spread(chart: Any) -> None:
    docs = render(chart, BASE)
    assert workload(docs)["kind"] == "Deployment"
    assert not {"PodDisruptionBudget", "StatefulSet"} & kinds(docs)
    assert "topologySpreadConstraints" not in pod_spec(docs)
    env = env_of(docs)
    assert env["SPOTRUN_DATABASE_URL"] == "sqlite:////data/spotrun.db"
    assert not {"SPOTRUN_REPLICAS", "SPOTRUN_SHARD_COUNT", "SPOTRUN_DATABASE_POOL_MAX"} & set(env)


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_grace_period_stays_within_the_spot_notice(chart: Any, scenario: str) -> None:
    assert pod_spec(render(chart, ci_values(scenario)))["terminationGracePeriodSeconds"] <= 15
    values = merged(ci_values(scenario), {"bot": {"drainBudgetSeconds": 13, "terminationMarginSeconds": 5}})
    assert pod_spec(render(chart, values))["terminationGracePeriodSeconds"] == 15


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_still_on_spot(chart: Any, scenario: str) -> None:
    docs = render(chart, ci_values(scenario))
    spec = pod_spec(docs)
    assert spec["nodeSelector"] == {"cloud.google.com/gke-spot": "true"}
    assert {
        "key": "cloud.google.com/gke-spot",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in spec["tolerations"]
    assert env_of(docs)["SPOTRUN_NODE_SPOT"] == "true"


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_standbys_are_probed_like_any_pod(chart: Any, scenario: str) -> None:
    """Readiness is /readyz and liveness /healthz on the ops port; the proxy adds no readiness probe, so a
    database blip does not take every pod out of the Service at once (the bot's /readyz reports the store)."""
    docs = render(chart, ci_values(scenario))
    bot = pod_spec(docs)["containers"][0]
    assert bot["name"] == "bot"
    assert bot["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    for init in pod_spec(docs).get("initContainers", []):
        assert "readinessProbe" not in init


# --- the bot's shard environment ------------------------------------------------------------------------


def test_sharded_environment(chart: Any) -> None:
    env = env_of(render(chart, ci_values("sharded")))
    assert env["SPOTRUN_SHARD_COUNT"] == "8"
    assert env["SPOTRUN_REPLICAS"] == "4"
    # The bot takes its ordinal from the StatefulSet pod name's -N suffix.
    assert env["SPOTRUN_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "SPOTRUN_SHARD_IDS" not in env
    assert "SPOTRUN_ZONE" not in env


def test_standby_environment(chart: Any) -> None:
    env = env_of(render(chart, ci_values("standby")))
    assert env["SPOTRUN_SHARD_COUNT"] == "1"
    assert env["SPOTRUN_REPLICAS"] == "2"
    assert env["SPOTRUN_DATABASE_URL"] == {"secretKeyRef": {"name": "spotrun-database", "key": "url"}}
    assert env["SPOTRUN_DATABASE_POOL_MAX"] == "10"


def test_shard_count_zero_asks_discord(chart: Any) -> None:
    assert env_of(render(chart, ci_values("cloudsql")))["SPOTRUN_SHARD_COUNT"] == "0"


def test_shard_ids_override_and_zone_label(chart: Any) -> None:
    values = merged(PG, {"sharding": {"shardCount": 4, "shardIds": [0, 2], "zoneFromPodLabel": True}})
    env = env_of(render(chart, values))
    assert env["SPOTRUN_SHARD_IDS"] == "0,2"
    zone_label = "metadata.labels['topology.kubernetes.io/zone']"
    assert env["SPOTRUN_ZONE"] == {"fieldRef": {"fieldPath": zone_label}}


def test_pool_size_is_a_value(chart: Any) -> None:
    env = env_of(render(chart, merged(PG, {"database": {"poolMax": 4}})))
    assert env["SPOTRUN_DATABASE_POOL_MAX"] == "4"
    assert env["SPOTRUN_DATABASE_URL"] == "postgresql://spotrun@db.internal:5432/spotrun"


# --- Cloud SQL: the Auth Proxy as a native sidecar, IAM database auth through Workload Identity -------------


def test_proxy_is_a_native_sidecar_with_iam_auth(chart: Any) -> None:
    docs = render(chart, ci_values("cloudsql"))
    proxy = proxy_of(docs)
    assert proxy["restartPolicy"] == "Always"  # native sidecar: up before the bot, down after its drain
    args = proxy["args"]
    assert "--auto-iam-authn" in args
    assert "--private-ip" in args
    assert "--structured-logs" in args
    assert "--port=5432" in args
    assert "--health-check" in args and "--http-address=0.0.0.0" in args
    assert args[-1] == INSTANCE
    assert proxy["image"].startswith("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.")
    assert proxy["resources"]["requests"]["cpu"] and proxy["resources"]["requests"]["memory"]
    assert proxy["resources"]["limits"]["memory"]
    assert proxy["securityContext"]["readOnlyRootFilesystem"] is True
    assert proxy["securityContext"]["allowPrivilegeEscalation"] is False
    # The bot starts only once the proxy's startup probe passes.
    health = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    startup = proxy["startupProbe"]["httpGet"]
    assert startup["path"] == "/startup" and health[startup["port"]] == 9801
    assert proxy["livenessProbe"]["httpGet"]["path"] == "/liveness"
    assert not [c for c in pod_spec(docs)["containers"] if c["name"] != "bot"]


def test_private_ip_is_a_value(chart: Any) -> None:
    docs = render(chart, merged(CLOUDSQL, {"cloudSql": {"privateIp": False}}))
    assert "--private-ip" not in proxy_of(docs)["args"]
    assert "--auto-iam-authn" in proxy_of(docs)["args"]


def test_database_url_points_at_the_proxy_as_the_iam_user(chart: Any) -> None:
    from bot.settings import BotSettings

    env = env_of(render(chart, ci_values("cloudsql")))
    url = env["SPOTRUN_DATABASE_URL"]
    parts = urlsplit(url)
    assert parts.scheme == "postgresql"
    assert parts.hostname == "127.0.0.1" and parts.port == 5432
    assert unquote(parts.username or "") == IAM_USER
    assert parts.password is None
    assert parts.path == "/spotrun"
    assert "sslmode=disable" in parts.query  # the proxy encrypts; the hop to it stays inside the pod
    # The bot's own settings accept it (and pick PostgreSQL).
    assert BotSettings(database_url=url).database_path == ":memory:"


def test_iam_user_can_be_given(chart: Any) -> None:
    values = merged(BASE, {"cloudSql": {"instanceConnectionName": INSTANCE, "iamUser": "bot@other.iam"}})
    url = env_of(render(chart, values))["SPOTRUN_DATABASE_URL"]
    assert unquote(urlsplit(url).username or "") == "bot@other.iam"


def test_workload_identity_binds_the_pods_to_the_gsa(chart: Any) -> None:
    docs = render(chart, ci_values("cloudsql"))
    sa = one(docs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == GSA
    assert pod_spec(docs)["serviceAccountName"] == sa["metadata"]["name"]


def test_cloudsql_needs_an_iam_user(chart: Any) -> None:
    with pytest.raises(helm_python.HelmError, match="gcpServiceAccount"):
        render(chart, merged(BASE, {"cloudSql": {"instanceConnectionName": INSTANCE}}))


@pytest.mark.parametrize("port", ["port", "healthPort"])
def test_proxy_ports_must_not_take_the_ops_port(chart: Any, port: str) -> None:
    with pytest.raises(helm_python.HelmError, match="opsPort"):
        render(chart, merged(CLOUDSQL, {"cloudSql": {port: 8000}}))


@pytest.mark.parametrize(
    "database",
    [
        {"cloudSql": {"instanceConnectionName": INSTANCE}, "database": {"url": "postgresql://a@b/c"}},
        {"database": {"url": "postgresql://a@b/c", "existingSecret": "db"}},
        {"cloudSql": {"instanceConnectionName": INSTANCE}, "database": {"existingSecret": "db"}},
    ],
    ids=["cloudsql+url", "url+secret", "cloudsql+secret"],
)
def test_one_database_source_at_a_time(chart: Any, database: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmError, match="one database"):
        render(chart, merged(CLOUDSQL, database))


PASSWORDISH = re.compile(r"(?i)(://[^/@\s:]+:[^/@\s]+@|password\s*[=:]\s*\S)")


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (str(k), *strings(v))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [str(node)]


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_no_password_anywhere(chart: Any, scenario: str) -> None:
    docs = render(chart, ci_values(scenario))
    for doc in docs:
        for text in strings(doc):
            assert not PASSWORDISH.search(text), f"{doc['kind']}: {text[:80]}"
    # Passwords only ever come from a Secret reference, never a literal env value.
    for var in pod_spec(docs)["containers"][0]["env"]:
        if "PASSWORD" in var["name"]:
            assert "value" not in var and "secretKeyRef" in var["valueFrom"]
    assert "Secret" not in kinds(docs)  # the Discord token comes from an existing Secret here too


# --- NetworkPolicy, alerts, notes ---------------------------------------------------------------------------


def test_network_policy_lets_the_proxy_reach_cloud_sql(chart: Any) -> None:
    policy = one(render(chart, ci_values("cloudsql")), "NetworkPolicy")
    ports = [p for rule in policy["spec"]["egress"] for p in rule.get("ports", [])]
    assert {"port": 3307, "protocol": "TCP"} in ports


def test_network_policy_extra_egress_for_an_external_database(chart: Any) -> None:
    rule = {"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}], "ports": [{"port": 5432, "protocol": "TCP"}]}
    values = merged(PG, {"networkPolicy": {"enabled": True, "extraEgress": [rule]}})
    policy = one(render(chart, values), "NetworkPolicy")
    assert rule in policy["spec"]["egress"]
    ports = [p["port"] for r in policy["spec"]["egress"] for p in r.get("ports", [])]
    assert 3307 not in ports  # no Cloud SQL here


@pytest.mark.parametrize("flavour", ["gmp", "prometheusOperator"])
def test_alert_when_a_shard_has_no_holder(chart: Any, flavour: str) -> None:
    docs = render(chart, merged(ci_values("standby"), {"metrics": {"rules": {flavour: True}}}))
    (rules_doc,) = [d for d in docs if (d["apiVersion"], d["kind"]) in CUSTOM_KINDS and "groups" in d["spec"]]
    rules = {r["alert"]: r for g in rules_doc["spec"]["groups"] for r in g["rules"]}
    rule = rules["SpotrunShardWithoutHolder"]
    assert rule["expr"].strip() == "sum(spotrun_shard_owned) < max(spotrun_shard_count)"
    assert rule["for"] == "1m"
    assert rule["labels"]["severity"] == "critical"
    assert rule["annotations"]["summary"]


def test_notes_name_the_statefulset(chart: Any) -> None:
    notes = render_files(chart, ci_values("sharded"))["spotrun/templates/NOTES.txt"]
    assert "statefulset/spotrun" in notes
    assert "deployment/" not in notes
    sqlite_notes = render_files(chart, BASE)["spotrun/templates/NOTES.txt"]
    assert "deployment/spotrun" in sqlite_notes


# --- values.schema.json -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        merged(PG, {"replicaCount": 4}),
        merged(CLOUDSQL, {"replicaCount": 3}),
        merged(BASE, {"database": {"existingSecret": "db"}, "replicaCount": 2}),
    ],
    ids=["url", "cloudsql", "secret"],
)
def test_schema_allows_many_pods_with_a_database(chart: Any, values: dict[str, Any]) -> None:
    assert workload(render(chart, values))["spec"]["replicas"] == values["replicaCount"]


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        ({"replicaCount": 2}, "/replicaCount"),
        ({"replicaCount": 2, "database": {"url": ""}}, "/replicaCount"),
        ({"replicaCount": 2, "cloudSql": {"instanceConnectionName": ""}}, "/replicaCount"),
        ({"database": {"url": "postgresql://bot:hunter2@db:5432/spotrun"}}, "/database/url"),
        ({"database": {"url": "postgresql://bot@hunter2@db:5432/spotrun"}}, "/database/url"),
        ({"database": {"url": "postgresql://bot@db/spotrun?password=hunter2"}}, "/database/url"),
        ({"database": {"url": "mysql://bot@db/spotrun"}}, "/database/url"),
        ({"database": {"poolMax": 0}}, "/database/poolMax"),
        ({"cloudSql": {"instanceConnectionName": "just-a-name"}}, "/cloudSql/instanceConnectionName"),
        ({"cloudSql": {"iamUser": "bot@example-project.iam.gserviceaccount.com"}}, "/cloudSql/iamUser"),
        ({"sharding": {"shardCount": -1}}, "/sharding/shardCount"),
        ({"sharding": {"shardIds": [-1]}}, "/sharding/shardIds/0"),
        ({"sharding": {"shardIds": [1, 1]}}, "/sharding/shardIds"),
        ({"topologySpread": {"zone": "Sometimes"}}, "/topologySpread/zone"),
        ({"podDisruptionBudget": {"maxUnavailable": 0}}, "/podDisruptionBudget/maxUnavailable"),
        ({"bot": {"databaseUrl": "postgresql://a@b/c"}}, "/bot"),  # moved to database.url
    ],
    ids=lambda v: v if isinstance(v, str) else repr(v),
)
def test_schema_rejects_wrong_database_and_shard_values(chart: Any, bad: dict[str, Any], path: str) -> None:
    with pytest.raises(helm_python.HelmError, match=re.escape(f"at '{path}'")):
        render(chart, merged(BASE, bad))


# --- the oldest Kubernetes with native sidecars on by default ----------------------------------------------


@pytest.mark.parametrize("scenario", PG_SCENARIOS)
def test_valid_on_kubernetes_1_29(chart: Any, scenario: str) -> None:
    """Native sidecars are on by default from 1.29; there StatefulSet.spec.serviceName is still required."""
    for doc in render(chart, ci_values(scenario)):
        if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, "1.29", strict=True)
