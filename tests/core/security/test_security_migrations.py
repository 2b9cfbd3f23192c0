"""The data migrations give existing rows to the teams that own them."""

import hashlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("sla", "0003_monitoring_notifications"),
    ("workflows", "0009_qa_sample_raised_and_shadows"),
    ("accounts", "0002_reviewer_profile"),
]
AFTER = [
    ("sla", "0004_calendars_belong_to_teams"),
    ("workflows", "0011_team_owned_models_operate_permission"),
    ("accounts", "0004_hashed_api_tokens"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    # Every app as far as it is migrated now (apps not rolled back keep their newer fields).
    executor = MigrationExecutor(connection)
    return executor._create_project_state(with_applied_migrations=True).apps


def test_existing_models_calendars_and_tokens_go_to_their_owners():
    old = _migrate(BEFORE)
    try:
        Team = old.get_model("accounts", "Team")
        User = old.get_model("auth", "User")
        Workflow = old.get_model("workflows", "Workflow")
        WorkflowVersion = old.get_model("workflows", "WorkflowVersion")
        ModelVersion = old.get_model("workflows", "ModelVersion")
        Queue = old.get_model("reviews", "Queue")
        Calendar = old.get_model("sla", "BusinessCalendar")
        SlaPolicy = old.get_model("sla", "SlaPolicy")
        support = Team.objects.create(slug="support", name="Support")
        claims = Team.objects.create(slug="claims", name="Claims")
        model = ModelVersion.objects.create(name="m", version="1", labels=[])
        ModelVersion.objects.create(name="unused", version="1", labels=[])
        queues = []
        for team in (support, claims):
            workflow = Workflow.objects.create(slug=f"{team.slug}-wf", name="w", team=team)
            workflow.current_version = WorkflowVersion.objects.create(
                workflow=workflow,
                number=1,
                definition={"model": {"name": "m", "version": "1"}},
                checksum="x",
            )
            workflow.save()
            queues.append(
                Queue.objects.create(team=team, workflow=workflow, slug=f"{team.slug}-q", name="q")
            )
        shared = Calendar.objects.create(name="Office", time_zone="UTC", working_hours={})
        Calendar.objects.create(name="Unused", time_zone="UTC", working_hours={})
        for queue in queues:
            SlaPolicy.objects.create(queue=queue, target_minutes=60, calendar=shared)
        user = User.objects.create(username="old-integrator")
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS authtoken_token "
                "(key varchar(40) primary key, user_id integer, created timestamptz)"
            )
            cursor.execute(
                "INSERT INTO authtoken_token VALUES ('plain-old-key', %s, now())", [user.pk]
            )
    finally:
        _migrate(AFTER)
        # Back to every app's latest migration, as the rest of the suite expects (rolling back
        # took apps that depend on these migrations back too).
        new = _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ModelVersion = new.get_model("workflows", "ModelVersion")
    Calendar = new.get_model("sla", "BusinessCalendar")
    SlaPolicy = new.get_model("sla", "SlaPolicy")
    ApiToken = new.get_model("accounts", "ApiToken")
    model = ModelVersion.objects.get(name="m")
    assert model.team.slug == "support"
    assert [t.slug for t in model.shared_with.all()] == ["claims"]
    assert ModelVersion.objects.get(name="unused").team is None
    owners = {p.queue.team.slug: p.calendar for p in SlaPolicy.objects.select_related("calendar")}
    assert owners["support"].team.slug == "support"
    assert owners["claims"].team.slug == "claims"
    assert owners["support"].pk != owners["claims"].pk
    assert Calendar.objects.get(name="Unused").team is None
    token = ApiToken.objects.get()
    assert token.key_hash == hashlib.sha256(b"plain-old-key").hexdigest()
    assert "authtoken_token" not in connection.introspection.table_names()
