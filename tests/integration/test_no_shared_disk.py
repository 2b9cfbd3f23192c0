"""Web and workers on "different machines": each process has its own MEDIA_ROOT and temporary
folder, and they share only PostgreSQL, Redis and the object store (moto's S3 server).

gunicorn takes the items and the reviews, a first worker runs the pipeline, builds the release
and trains a model on it, the app hands the release out, and a second worker, started after the
first stopped, predicts with the new model it can only have read from the bucket.
"""

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from reviewapp.celery import app as celery_app
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from tests.integration.conftest import _stop, database_url, wait_until, worker_start
from tests.support.drifted import drifted_tickets
from tests.support.redis_server import free_port
from tests.support.tokens import token_for
from workflows.demo.definition import TICKET_TRIAGE
from workflows.models import Item, ItemStatus, Prediction, TrainingRun, TrainingRunStatus
from workflows.services import workflow_publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BIN = Path(sys.executable).parent
PROJECT_DIR = Path(__file__).resolve().parents[2]


def host(tmp_path: Path, name: str) -> dict[str, str]:
    """The folders of one "machine": nothing in them is visible to the others."""
    folders = {key: tmp_path / name / key for key in ("media", "tmp", "var")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    return {
        "MEDIA_ROOT": str(folders["media"]),
        "TMPDIR": str(folders["tmp"]),
        "REVIEWAPP_VAR_DIR": str(folders["var"]),
    }


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def web_start(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with log_path.open("ab") as log:
        web = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "reviewapp.wsgi",
                "--config=python:reviewapp.gunicorn_config",
                f"--bind=127.0.0.1:{port}",
                "--workers=2",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert web.poll() is None, log_path.read_text()
        try:
            return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=60, what=lambda: log_path.read_text()[-3000:])
    return web, base


def test_web_and_workers_share_only_the_database_the_broker_and_the_bucket(
    object_storage, s3_server, tmp_path, demo, requester, approver, reviewer, integrator
):
    workflow = workflow_publish(  # every item goes to a reviewer
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"routing": {"threshold": 1.0}},
    )
    common = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MEDIA_ROOT", "TMPDIR", "REVIEWAPP_VAR_DIR", "CELERY_BROKER_URL")
    } | {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "REVIEWAPP_METRICS_KEY_PREFIX": settings.REVIEWAPP_METRICS_KEY_PREFIX,
        "LOG_LEVEL": "WARNING",
        **s3_server.env(object_storage),
    }
    hosts = {name: host(tmp_path, name) for name in ("web", "builder", "loader")}
    celery_app.control.purge()
    web, base = web_start(
        common | hosts["web"] | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web" / "metrics")},
        tmp_path / "web.log",
    )
    builder = worker_start(
        broker_url=settings.CELERY_BROKER_URL,
        media_root=Path(hosts["builder"]["MEDIA_ROOT"]),
        log_path=tmp_path / "builder.log",
        extra_env=common | hosts["builder"],
    )
    loader = None
    try:

        def client(user) -> httpx.Client:
            return httpx.Client(
                base_url=base,
                headers={"Authorization": f"Bearer {token_for(user)}"},
                timeout=60,
            )

        def ok(response: httpx.Response, code: int = 200) -> dict:
            assert response.status_code == code, (response.status_code, response.text[:2000])
            return response.json()

        # Ingest over HTTP; the builder runs the pipeline.
        tickets = drifted_tickets(60, seed=3)
        truth_by_body = {ticket["body"]: label for ticket, label in tickets}
        with client(integrator) as api:
            accepted = ok(
                api.post(
                    f"/api/v1/workflows/{workflow.slug}/items",
                    json={"items": [{"input": ticket} for ticket, _ in tickets]},
                    headers={"Idempotency-Key": "no-shared-disk-review"},
                ),
                201,
            )
        item_ids = [entry["id"] for entry in accepted["items"]]
        wait_until(
            lambda: (
                not Item.objects.filter(
                    pk__in=item_ids, status__in=[ItemStatus.RECEIVED, ItemStatus.RUNNING]
                ).exists()
            ),
            timeout=60,
            what=lambda: builder.log_tail(),
        )

        # Review over HTTP: the reviewer gives the true label of every ticket.
        with client(reviewer) as api:
            while (claimed := api.post(f"/api/v1/queues/{demo.queue.pk}/claim")).status_code == 200:
                task = claimed.json()
                right = truth_by_body[task["item"]["input"]["body"]]
                agrees = task["prediction"]["output"]["label"] == right
                ok(
                    api.post(
                        f"/api/v1/tasks/{task['id']}/decision",
                        json={"claim_token": task["claim_token"], "outcome": "accept"}
                        if agrees
                        else {
                            "claim_token": task["claim_token"],
                            "outcome": "correct",
                            "output": {"label": right},
                            "reason_codes": ["wrong-category"],
                        },
                    ),
                    201,
                )
            assert claimed.status_code == 204, claimed.text

        # The release: requested, approved by a colleague, built on the builder into the bucket.
        with client(requester) as api:
            export_id = ok(
                api.post(
                    "/api/v1/exports/",
                    json={"workflow": workflow.slug, "format": "jsonl", "filters": {}},
                ),
                201,
            )["id"]
        with client(approver) as api:
            ok(api.post(f"/api/v1/exports/{export_id}/approve"))
        wait_until(
            lambda: (
                DatasetExport.objects.get(pk=export_id).status
                in (ExportStatus.READY, ExportStatus.FAILED)
            ),
            timeout=60,
            what=lambda: builder.log_tail(),
        )
        export = DatasetExport.objects.get(pk=export_id)
        assert export.status == ExportStatus.READY, export.error

        # Downloaded through the web process, which never saw the builder's disk.
        with client(requester) as api:
            download = api.get(f"/api/v1/exports/{export_id}/download")
            assert download.status_code == 200, download.text
            assert hashlib.sha256(download.content).hexdigest() == export.sha256

            # Retrained on the builder, from the release in the bucket.
            run_id = ok(api.post(f"/api/v1/exports/{export_id}/retrain"), 202)["id"]
        wait_until(
            lambda: (
                TrainingRun.objects.get(pk=run_id).status
                in (TrainingRunStatus.SUCCEEDED, TrainingRunStatus.FAILED)
            ),
            timeout=90,
            what=lambda: builder.log_tail(),
        )
        run = TrainingRun.objects.select_related("candidate").get(pk=run_id)
        assert run.status == TrainingRunStatus.SUCCEEDED, run.error
        candidate = run.candidate
        _stop(builder.process)

        # Another worker on another "machine" predicts with the new model.
        workflow_publish(
            slug=workflow.slug,
            name=workflow.name,
            team=demo.team,
            definition=TICKET_TRIAGE.definition
            | {"model": {"name": candidate.name, "version": candidate.version}},
        )
        loader = worker_start(
            broker_url=settings.CELERY_BROKER_URL,
            media_root=Path(hosts["loader"]["MEDIA_ROOT"]),
            log_path=tmp_path / "loader.log",
            extra_env=common | hosts["loader"],
        )
        with client(integrator) as api:
            fresh = ok(
                api.post(
                    f"/api/v1/workflows/{workflow.slug}/items",
                    json={"items": [{"input": ticket} for ticket, _ in drifted_tickets(3, seed=9)]},
                    headers={"Idempotency-Key": "no-shared-disk-fresh"},
                ),
                201,
            )
        fresh_ids = [entry["id"] for entry in fresh["items"]]
        wait_until(
            lambda: Prediction.objects.filter(item_id__in=fresh_ids).count() == len(fresh_ids),
            timeout=60,
            what=lambda: loader.log_tail() if loader else "",
        )
        used = set(
            Prediction.objects.filter(item_id__in=fresh_ids).values_list(
                "model_version_id", flat=True
            )
        )
        assert used == {candidate.pk}
    finally:
        for process in (builder.process, loader.process if loader else None):
            if process is not None:
                _stop(process)
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            web.wait(timeout=30)

    stored = set(s3_server.objects(object_storage))
    assert f"datasets/{workflow.slug}/v1/data.jsonl" in stored
    assert candidate.artefact in stored
    for name, folders in hosts.items():
        leftovers = [
            path
            for path in files_under(Path(folders["MEDIA_ROOT"]))
            if path.startswith(("datasets", "models", "exports"))
        ]
        assert leftovers == [], f"{name} wrote release or model files to its own disk"
        building = [path for path in files_under(Path(folders["TMPDIR"])) if "export-" in path]
        assert building == [], f"{name} left a build's working folder behind"
