"""Shared fixtures: the demo installation and fixed personas for permission tests.

The suite runs on PostgreSQL (claims, locks and the audit trigger depend on it) and refuses to
run elsewhere instead of skipping what matters.
"""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, connections
from rest_framework.test import APIClient

from reviewapp.core.accounts.models import Role, Team
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.metrics.recording import CountsOnCommit
from reviewapp.core.pooling import SESSION_ALIAS
from reviewapp.operations.configuration import workflow_sync
from reviewapp.operations.demo import demo_install, demo_items_submit
from reviewapp.review.reviews.queues import queue_create
from tests.support.s3_server import S3Server
from workflows.definitions import workflow_file_load
from workflows.demo.definition import TICKET_TRIAGE
from workflows.models import Item
from workflows.pipeline.engine import item_run_step
from workflows.pipeline.order import FIRST_STEP
from workflows.services import workflow_publish

PASSWORD = "correct-horse-battery-staple"
DEFINITION_EXAMPLES = Path(__file__).resolve().parents[1] / "workflows" / "definitions" / "examples"
AGENT_ACTIONS_FILE = DEFINITION_EXAMPLES / "agent-actions.yaml"


def pytest_addoption(parser):
    parser.addoption(
        "--through-pgbouncer",
        action="store_true",
        help="connect through a private PgBouncer in transaction mode, configured as "
        "DATABASE_POOLER=transaction configures the app (README: Deploy behind PgBouncer)",
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--through-pgbouncer"):
        return
    # Tests that name their databases may also read on the session connection, as the app
    # does behind the pooler (datasets and audit verification outside a transaction).
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or marker.kwargs.get("databases") == "__all__":
            continue
        databases = set(marker.kwargs.get("databases") or ["default"]) | {SESSION_ALIAS}
        kwargs = marker.kwargs | {"databases": sorted(databases)}
        item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(scope="session", autouse=True)
def _through_pgbouncer(request, django_db_setup):
    """With ``--through-pgbouncer``: the whole run's connection goes through PgBouncer."""
    if not request.config.getoption("--through-pgbouncer"):
        yield None
        return
    from tests.support.pgbouncer_server import PgBouncer, through_pgbouncer

    database = connections["default"].settings_dict
    with (
        PgBouncer(database=database["NAME"], user=database["USER"] or "postgres") as bouncer,
        through_pgbouncer(bouncer),
    ):
        yield bouncer


@pytest.fixture(scope="session", autouse=True)
def _require_postgresql(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.exit(
                "The test suite needs PostgreSQL: set DATABASE_URL (see README).", returncode=2
            )


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _media_root(settings, media_root):
    settings.MEDIA_ROOT = media_root


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3-compatible server in its own process on a free port, for the whole session."""
    with S3Server(tmp_path_factory.mktemp("s3") / "moto.log") as server:
        yield server


@pytest.fixture
def object_storage(settings, s3_server):
    """Releases and model artefacts in a fresh bucket of ``s3_server`` for this test; the bucket's
    name is returned. Ask for it before ``demo``, so the demo's model is stored there too."""
    bucket = s3_server.bucket()
    settings.STORAGES = settings.STORAGES | s3_server.storages(bucket)
    return bucket


@pytest.fixture
def demo(db):
    return demo_install(password=PASSWORD)


def _user(username):
    return get_user_model().objects.get(username=username)


@pytest.fixture
def reviewer(demo):
    return _user("alice")


@pytest.fixture
def second_reviewer(demo):
    return _user("bob")


@pytest.fixture
def manager(demo):
    return _user("maria")


@pytest.fixture
def requester(demo):
    """An ML engineer who requests exports (and could approve other people's)."""
    return _user("mel")


@pytest.fixture
def approver(demo):
    return _user("ines")


@pytest.fixture
def integrator(demo):
    return _user("api-client")


@pytest.fixture
def other_team(demo):
    """A second team with its own workflow and queue, and an outsider who reviews there."""
    team = Team.objects.create(slug="claims", name="Claims")
    workflow = workflow_publish(
        slug="claims-triage",
        name="Claims triage",
        team=team,
        definition=TICKET_TRIAGE.definition | {"queue": "claims-review"},
    )
    queue = queue_create(team=team, workflow=workflow, slug="claims-review", name="Claims review")
    outsider = get_user_model().objects.create_user(username="oscar", password=PASSWORD)
    membership_add(team=team, user=outsider, role=Role.REVIEWER)
    membership_add(team=team, user=outsider, role=Role.ML_ENGINEER)
    return {"team": team, "workflow": workflow, "queue": queue, "outsider": outsider}


@pytest.fixture
def agent_actions(demo):
    """The example approval workflow (agents ask before they act), on the demo's support team."""
    return workflow_sync(source=workflow_file_load(AGENT_ACTIONS_FILE))


@pytest.fixture
def outsider(other_team):
    return other_team["outsider"]


@pytest.fixture
def api():
    def client_for(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return client_for


def work_callbacks(callbacks):
    """The on-commit callbacks that send work, without the metrics' (a transaction that counted
    something sends its counts after commit too)."""
    return [callback for callback in callbacks if not isinstance(callback, CountsOnCommit)]


def run_pipeline(item_ids):
    """Run every pipeline step of the items in this process, as a worker would, in order."""
    for item_id in item_ids:
        step = FIRST_STEP
        while step is not None:
            step = item_run_step(item_id=item_id, step=step).next_step


@pytest.fixture
def routed_items(demo):
    """Demo tickets ingested and run through the pipeline; returns the items sent to review."""

    def make(count=40, seed=11):
        demo_items_submit(demo, count=count, seed=seed)
        ids = list(Item.objects.order_by("pk").values_list("pk", flat=True))
        run_pipeline(ids)
        return list(Item.objects.filter(status="awaiting_review").order_by("pk"))

    return make


@pytest.fixture(autouse=True)
def _empty_cache():
    """Pages cache a few figures for seconds (the board's open counts): no test sees another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _webhook_secrets(settings):
    """The signing secrets the tests' teams may name (a deployment lists its own)."""
    settings.REVIEWAPP_WEBHOOK_SECRETS = {
        "support": frozenset(
            {"TRIAGE_WEBHOOK_SECRET", "ESCALATION_HOOK_SECRET", "ESCALATION_SECRET"}
        ),
        "claims": frozenset({"CLAIMS_WEBHOOK_SECRET"}),
    }


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """The demo sets seven passwords; PBKDF2 makes that ~1.3 s per test, MD5 makes it nothing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def broker():
    """The default Celery queue on the configured broker, emptied before and after the test.

    Returns ``drain()``: the ``(task name, args)`` of every message enqueued since, consumed.
    Lets a test run its on-commit callbacks for real and see what reached the broker.
    """
    from reviewapp.celery import app as celery_app

    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("celery")
        queue.clear()

        def drain():
            messages = []
            while True:
                try:
                    message = queue.get(block=True, timeout=0.2)
                except queue.Empty:
                    return messages
                messages.append((message.headers["task"], message.decode()[0]))
                message.ack()

        yield drain
        queue.clear()
        queue.close()
