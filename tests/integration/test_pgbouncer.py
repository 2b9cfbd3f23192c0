"""Behind PgBouncer in transaction mode (``DATABASE_POOLER=transaction``): claims, decisions,
dataset releases and the audit trail, in this process and in a real Celery worker.

A private PgBouncer (tests/support/pgbouncer_server.py) sits in front of the test database and
wipes every server connection's session after each transaction, so whatever would need a
session through the transaction pool fails here every time. The tests are transactional: inside
one test-wide transaction PgBouncer would pin one server connection and prove nothing.
"""

import json

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import ProgrammingError, connection, connections

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.core.pooling import SESSION_ALIAS
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.services import dataset_export_build
from reviewapp.learn.datasets.specs import spec_lines_counted
from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from tests.integration.conftest import LOG_OFFSET, WORKER_LOG, _stop, wait_until, worker_start
from tests.support.files import export_path
from tests.support.pgbouncer_server import PgBouncer, through_pgbouncer
from workflows.demo.tickets import LABELS
from workflows.models import Item, ItemStatus

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, databases=["default", SESSION_ALIAS]),
]

EXPORTS = "/api/v1/exports/"
SETTLED = (ItemStatus.COMPLETED, ItemStatus.AWAITING_REVIEW)


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup):
    """PgBouncer in front of the test database, which pytest-django created on PostgreSQL."""
    database = connections["default"].settings_dict
    with PgBouncer(database=database["NAME"], user=database["USER"] or "postgres") as bouncer:
        yield bouncer


@pytest.fixture(scope="module", autouse=True)
def pooled(pgbouncer):
    with through_pgbouncer(pgbouncer) as pooled_settings:
        yield pooled_settings


@pytest.fixture(scope="module")
def pooled_worker(request, pgbouncer, pooled, media_root, tmp_path_factory):
    """A real worker configured only by the environment, as a deployment behind PgBouncer."""
    from reviewapp.celery import app as celery_app

    celery_app.control.purge()
    log_path = tmp_path_factory.mktemp("pooled-worker") / "worker.log"
    request.config.stash[WORKER_LOG] = log_path  # shown when a test fails
    worker = worker_start(
        broker_url=settings.CELERY_BROKER_URL,
        media_root=media_root,
        log_path=log_path,
        extra_env={
            "DATABASE_POOLER": "transaction",
            "DATABASE_SESSION_URL": pgbouncer.url(session=True),
        },
    )
    try:
        yield worker
    finally:
        _stop(worker.process)


def claim_and_decide(client, queue, outcomes) -> None:
    """A reviewer claims and decides one task per outcome through the API."""
    for outcome in outcomes:
        claim = client.post(f"/api/v1/queues/{queue.pk}/claim")
        assert claim.status_code == 200, claim.content
        task = claim.json()
        body = {"claim_token": task["claim_token"], "outcome": outcome}
        if outcome == "correct":
            model_label = task["prediction"]["output"]["label"]
            body["output"] = {"label": next(label for label in LABELS if label != model_label)}
            body["reason_codes"] = ["wrong-category"]
        response = client.post(f"/api/v1/tasks/{task['id']}/decision", body, format="json")
        assert response.status_code == 201, response.content


OUTCOMES = ("correct", "accept", "correct")


@pytest.fixture
def decided(api, reviewer, demo, routed_items):
    """Alice claims and decides three tasks: two corrections and an accept, each labeled data."""
    assert len(routed_items(count=10, seed=5)) >= len(OUTCOMES)
    claim_and_decide(api(reviewer), demo.queue, OUTCOMES)
    return Correction.objects.count()


def test_claims_decisions_releases_and_the_audit_trail_work_through_the_pooler(
    decided, demo, api, requester, approver, pgbouncer, pooled
):
    default = connection.settings_dict
    assert (default["HOST"], int(default["PORT"])) == ("127.0.0.1", pgbouncer.port)
    assert default["OPTIONS"]["prepare_threshold"] is None
    assert default["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert pooled["REVIEWAPP_PREPARED_STATEMENTS"] is False
    assert connections[SESSION_ALIAS].settings_dict["NAME"] == pgbouncer.session_database

    # Claims and decisions (the fixture) ran through PgBouncer, a transaction at a time.
    assert decided == 3
    decided_tasks = ReviewTask.objects.filter(queue=demo.queue, status=TaskStatus.DECIDED)
    assert decided_tasks.count() == len(OUTCOMES)
    assert not ReviewTask.objects.filter(status=TaskStatus.CLAIMED).exists()
    assert pgbouncer.transactions() > 50

    exports = {}
    for export_format in ("jsonl", "csv"):  # PostgreSQL's ready lines, and rows encoded here
        response = api(requester).post(
            EXPORTS, {"workflow": "ticket-triage", "format": export_format}, format="json"
        )
        assert response.status_code == 201, response.content
        export_id = response.json()["id"]
        assert api(approver).post(f"{EXPORTS}{export_id}/approve").status_code == 200
        exports[export_format] = dataset_export_build(export_id=export_id)

    jsonl, csv = exports["jsonl"], exports["csv"]
    assert jsonl.status == csv.status == ExportStatus.READY
    assert jsonl.rows_total == csv.rows_total == decided
    lines = export_path(jsonl).read_text().splitlines()
    assert len(lines) == decided
    # The corrections say why; the accept has no reason.
    reasons = sorted(tuple(json.loads(line)["reason_codes"]) for line in lines)
    assert reasons == [(), ("wrong-category",), ("wrong-category",)]
    assert len(export_path(csv).read_text().splitlines()) == decided + 1  # and the header

    report = audit_verify()
    assert report.broken is None
    assert report.events == AuditEvent.objects.count() > 0
    call_command("verify_audit")


def test_without_the_pooler_settings_streaming_reads_break_in_transaction_mode(demo):
    """Why the settings are what they are: the release's held cursor on the transaction pool,
    and Django's server-side cursor outside a transaction, lose their cursor at once."""
    session = settings.DATABASES.pop(SESSION_ALIAS)
    try:
        with (
            pytest.raises(psycopg.errors.InvalidCursorName),
            spec_lines_counted(workflow=demo.workflow, filters={}, sensitive={}),
        ):
            pass
    finally:
        settings.DATABASES[SESSION_ALIAS] = session
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = False
    try:
        with pytest.raises(ProgrammingError, match="does not exist"):
            list(get_user_model().objects.values_list("pk", flat=True).iterator(chunk_size=1))
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = True


def test_a_worker_behind_the_pooler_runs_the_pipeline_and_builds_a_release(
    request, demo, api, reviewer, requester, approver, pgbouncer, pooled_worker
):
    request.node.stash[LOG_OFFSET] = pooled_worker.log_path.stat().st_size
    assert f":{pgbouncer.port}/" in pooled_worker.env["DATABASE_URL"]
    demo_items_submit(demo, count=10, seed=5)  # the worker runs the pipeline after commit
    wait_until(
        lambda: not Item.objects.exclude(status__in=SETTLED).exists(),
        timeout=60.0,
        what=lambda: f"items in flight: {list(Item.objects.values_list('status', flat=True))}",
    )
    claim_and_decide(api(reviewer), demo.queue, OUTCOMES)
    response = api(requester).post(EXPORTS, {"workflow": "ticket-triage"}, format="json")
    export_id = response.json()["id"]
    sessions_before = pgbouncer.logins(pgbouncer.session_database)

    # The approval enqueues the build after commit; the worker builds it.
    assert api(approver).post(f"{EXPORTS}{export_id}/approve").status_code == 200
    wait_until(
        lambda: (
            DatasetExport.objects.get(pk=export_id).status
            in (ExportStatus.READY, ExportStatus.FAILED)
        ),
        timeout=60.0,
        what=lambda: f"export {export_id} is {DatasetExport.objects.get(pk=export_id).status}",
    )
    export = DatasetExport.objects.get(pk=export_id)
    assert (export.status, export.error) == (ExportStatus.READY, "")
    assert export.rows_total == Correction.objects.count() == 3
    # The worker read the rows on a session of its own, through PgBouncer's session pool.
    assert pgbouncer.logins(pgbouncer.session_database) > sessions_before
    wait_until(pooled_worker.is_idle, timeout=30.0, what=lambda: "the worker never went idle")
