"""The Helm chart renders with Helm's own engine, passes ``helm lint --strict``, and every object
it renders validates against the Kubernetes schemas (strict: unknown fields fail)."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "reviewapp"
KUBERNETES = "1.30.0"
TWO_QUEUES = {
    "workers": [
        {
            "name": "pipeline",
            "queues": ["celery"],
            "concurrency": 4,
            "replicas": 2,
            "resources": {},
            "podDisruptionBudget": {"maxUnavailable": 1},
            "keda": {
                "enabled": True,
                "minReplicaCount": 1,
                "maxReplicaCount": 4,
                "listLength": 20,
                "redisAddress": "redis:6379",
                "databaseIndex": 0,
                "passwordFromEnv": "REDIS_PASSWORD",
            },
        },
        {
            "name": "exports",
            "queues": ["exports", "training"],
            "concurrency": 1,
            "replicas": 1,
            "resources": {},
            "podDisruptionBudget": {"maxUnavailable": 1},
            "keda": {"enabled": False},
        },
    ],
    "data": {"existingClaim": "reviewapp-data"},
}


def render(values: dict | None = None) -> list[dict]:
    manifests = Chart.load(CHART).render(values, name="review", namespace="review")
    return [
        document
        for path, text in sorted(manifests.items())
        if path.endswith(".yaml")
        for document in yaml.safe_load_all(text)
        if document
    ]


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def containers(document: dict) -> list[dict]:
    return document["spec"]["template"]["spec"]["containers"]


def env_of(container: dict) -> dict[str, object]:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in container["env"]}


@pytest.mark.parametrize("values", [None, TWO_QUEUES], ids=["defaults", "two-queues"])
def test_every_rendered_object_validates_against_the_kubernetes_schemas(values):
    documents = render(values)
    checked = 0
    for document in documents:
        if document["kind"] == "ScaledObject":
            continue  # a KEDA resource: checked below against KEDA's documented fields
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
        checked += 1
    assert checked >= 9
    report = lint(CHART, values, strict=True, kube_version=f"v{KUBERNETES}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_schema_check_fails_on_a_wrong_field():
    web = by_kind(render(), "Deployment")["review-reviewapp-web"]
    containers(web)[0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES, strict=True)


def test_web_is_probed_on_the_health_endpoints_scaled_by_cpu_and_kept_up_in_disruptions():
    documents = render()
    web = by_kind(documents, "Deployment")["review-reviewapp-web"]
    [container] = containers(web)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert env_of(container)["REVIEWAPP_READY_NEEDS_WORKER"] == "false"
    assert "replicas" not in web["spec"], "the autoscaler owns the replica count"
    hpa = by_kind(documents, "HorizontalPodAutoscaler")["review-reviewapp-web"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "review-reviewapp-web"
    pdbs = by_kind(documents, "PodDisruptionBudget")
    assert set(pdbs) == {
        "review-reviewapp-web",
        "review-reviewapp-beat",
        "review-reviewapp-worker-default",
    }
    service = by_kind(documents, "Service")["review-reviewapp-web"]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]


def test_web_sums_its_gunicorn_workers_metrics_in_a_folder_of_its_own():
    web = by_kind(render(), "Deployment")["review-reviewapp-web"]
    [container] = containers(web)
    assert "--config=python:reviewapp.gunicorn_config" in container["command"]
    folder = env_of(container)["PROMETHEUS_MULTIPROC_DIR"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
    volumes = {v["name"]: v for v in web["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mount["name"]] == {"name": mount["name"], "emptyDir": {}}


def test_one_worker_deployment_per_queue_entry_with_a_keda_scaler_on_its_backlog():
    documents = render(TWO_QUEUES)
    deployments = by_kind(documents, "Deployment")
    pipeline = containers(deployments["review-reviewapp-worker-pipeline"])[0]["command"]
    exports = containers(deployments["review-reviewapp-worker-exports"])[0]["command"]
    assert "--queues=celery" in pipeline and "--concurrency=4" in pipeline
    assert "--queues=exports,training" in exports
    assert deployments["review-reviewapp-worker-exports"]["spec"]["replicas"] == 1
    assert "replicas" not in deployments["review-reviewapp-worker-pipeline"]["spec"]

    [scaled] = by_kind(documents, "ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {"name": "review-reviewapp-worker-pipeline"}
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == "celery"
    # KEDA's trigger metadata is a map of strings.
    assert all(isinstance(value, str) for value in trigger["metadata"].values())
    assert trigger["metadata"]["passwordFromEnv"] == "REDIS_PASSWORD"
    claims = {
        volume["persistentVolumeClaim"]["claimName"]
        for name in ("review-reviewapp-web", "review-reviewapp-worker-pipeline")
        for volume in deployments[name]["spec"]["template"]["spec"]["volumes"]
        if volume["name"] == "data"
    }
    assert claims == {"reviewapp-data"}


def test_beat_runs_twice_behind_its_lease_and_the_migrate_hook_runs_as_the_owner():
    documents = render()
    beat = by_kind(documents, "Deployment")["review-reviewapp-beat"]
    assert beat["spec"]["replicas"] == 2
    [container] = containers(beat)
    assert container["command"][-2:] == ["beat", "--loglevel=INFO"]
    assert env_of(container)["REVIEWAPP_BEAT_LEASE_SECONDS"] == "15"
    assert "celerybeat-schedule.alive" in " ".join(container["livenessProbe"]["exec"]["command"])

    job = by_kind(documents, "Job")["review-reviewapp-migrate"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    [migrate] = containers(job)
    env = env_of(migrate)
    assert env["DATABASE_APP_ROLE"] == "reviewapp_app"
    assert env["DATABASE_URL"] == {
        "secretKeyRef": {"name": "reviewapp-migrate", "key": "DATABASE_URL"}
    }
    # Only the migrate Job sees the owner's credentials.
    for name, deployment in by_kind(documents, "Deployment").items():
        for container in containers(deployment):
            assert "DATABASE_URL" not in env_of(container), name
            assert container["envFrom"] == [{"secretRef": {"name": "reviewapp"}}]


def test_every_pod_runs_as_a_non_root_user_without_privilege_escalation():
    for document in render(TWO_QUEUES):
        if document["kind"] not in ("Deployment", "Job"):
            continue
        pod = document["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_switching_the_autoscalers_off_gives_fixed_replica_counts():
    values = {"web": {"autoscaling": {"enabled": False}, "replicas": 3}}
    values |= {"workers": [dict(TWO_QUEUES["workers"][0], keda={"enabled": False})]}
    documents = render(values)
    assert by_kind(documents, "HorizontalPodAutoscaler") == {}
    assert by_kind(documents, "ScaledObject") == {}
    deployments = by_kind(documents, "Deployment")
    assert deployments["review-reviewapp-web"]["spec"]["replicas"] == 3
    assert deployments["review-reviewapp-worker-pipeline"]["spec"]["replicas"] == 2


OBJECT_STORE = {
    "storage": {
        "kind": "s3",
        "s3": {
            "bucket": "reviewapp-releases",
            "endpointUrl": "http://minio:9000",
            "addressingStyle": "path",
            "presignedDownloads": True,
        },
    }
}


def test_object_storage_reaches_every_process_and_validates():
    documents = render(OBJECT_STORE)
    for document in documents:
        if document["kind"] in ("Deployment", "Job"):
            env = env_of(containers(document)[0])
            assert env["REVIEWAPP_STORAGE"] == "s3"
            assert env["S3_BUCKET"] == "reviewapp-releases"
            assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
            assert env["S3_ADDRESSING_STYLE"] == "path"
            assert env["REVIEWAPP_PRESIGNED_DOWNLOADS"] == "true"
        if document["kind"] != "ScaledObject":
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
    assert lint(CHART, OBJECT_STORE, strict=True, kube_version=f"v{KUBERNETES}")["errors"] == []
