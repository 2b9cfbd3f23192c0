"""Every URL pattern of the project, asked for another team's objects by every role of a second
team, by an outsider with no team and by an anonymous client: each answer must be a refusal.

The patterns come from the resolver, so a new route is in the matrix the day it is added; one
whose path parameter has no object below fails the test until it gets one. Routes that take no
object (lists, boards) may answer, but must not show the other team's objects.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.core.accounts.tokens import api_token_create
from reviewapp.core.accounts.two_factor import two_factor_enrolment_start
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.review.quality.models import GoldItem
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.sla.configuration import business_calendar_save, escalation_step_add
from reviewapp.review.sla.models import EscalationAction, Notification, NotificationKind
from tests.conftest import run_pipeline
from workflows.demo.tickets import generate_tickets
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Canary, ModelVersion, TrainingRun, WebhookDelivery

pytestmark = pytest.mark.django_db

# Answers that refuse without saying whether the object exists or doing anything.
REFUSED = {403, 404, 405}
# Routes anyone may reach, and why.
PUBLIC = {
    "home": "redirects to the sign-in page, or to the person's own starting page",
    "login": "the sign-in page",
    "logout": "signing out",
}
METHODS = ("get", "post")
API_METHODS = ("get", "post", "put", "patch", "delete")


def _patterns(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield namespace, pattern


def team_objects(*, team, workflow, queue, model, requester, reviewer, calendar_name):
    """One of every kind of object of ``team``, by path parameter name."""
    tickets = generate_tickets(12, seed=11)
    results = items_ingest(
        workflow=workflow,
        submissions=[Submission(input=t.as_input()) for t in tickets],
        submitted_by=requester,
    )
    run_pipeline([item.pk for item, _ in results])
    task = ReviewTask.objects.filter(queue=queue).select_related("item").first()
    assert task is not None
    item = task.item
    export = DatasetExport.objects.create(
        workflow=workflow, requested_by=requester, requested_at=timezone.now()
    )
    candidate = ModelVersion.objects.create(
        team=team,
        name=f"matrix-candidate-{team.slug}",
        version="1",
        artefact=model.artefact,
        sha256=model.sha256,
        labels=model.labels,
    )
    canary = Canary.objects.create(
        workflow=workflow,
        stable=model,
        candidate=candidate,
        percent=10,
        min_sample=5,
        gates={},
        started_at=timezone.now(),
    )
    run = TrainingRun.objects.create(workflow=workflow, release=export, requested_at=timezone.now())
    calendar = business_calendar_save(
        name=calendar_name,
        time_zone="UTC",
        working_hours={"mon": [["09:00", "17:00"]]},
        team=team,
    )
    step = escalation_step_add(
        queue=queue, after_minutes=10, action=EscalationAction.RAISE_PRIORITY, priority_boost=1
    )
    gold = GoldItem.objects.create(
        queue=queue, input=item.input, expected_output={}, proposed_output={}
    )
    delivery = WebhookDelivery.objects.create(
        item=item,
        event="item.completed",
        url="https://example.com/hook",
        secret_env="TRIAGE_WEBHOOK_SECRET",
        payload={},
        next_attempt_at=timezone.now() + timedelta(days=1),
    )
    token, _ = api_token_create(user=requester, name="matrix", scopes=["read"])
    # The requester's own notification: nobody else may read or mark it.
    notification = Notification.objects.create(
        recipient=requester,
        kind=NotificationKind.TASK_BREACHED,
        task=task,
        message="A task is past due.",
        created_at=timezone.now(),
    )
    # A second factor of the team's requester (the admin site's pages of it are staff-only).
    device = two_factor_enrolment_start(user=requester)
    return {
        "slug": workflow.slug,
        "team_slug": team.slug,
        "queue_id": queue.pk,
        "task_id": task.pk,
        "item_id": item.pk,
        # An approval is an item of an approval workflow, under the item's id: another team's
        # item id is what a foreign caller would try.
        "approval_id": item.pk,
        "export_id": export.pk,
        "canary_id": canary.pk,
        "run_id": run.pk,
        "calendar_id": calendar.pk,
        "step_id": step.pk,
        "gold_id": gold.pk,
        "delivery_id": delivery.pk,
        "model_id": candidate.pk,
        "token_id": token.pk,
        "notification_id": notification.pk,
        "username": reviewer.username,
        # Django admin: the staff-only site refuses everyone here whatever the object.
        "object_id": str(item.pk),
        "app_label": "accounts",
        "content_type_id": "1",
        "url": "workflows/",
        "id": str(requester.pk),
        "pk": str(device.pk),
    }


@pytest.fixture
def first_team_objects(demo, requester, reviewer):
    return team_objects(
        team=demo.team,
        workflow=demo.workflow,
        queue=demo.queue,
        model=demo.model_version,
        requester=requester,
        reviewer=reviewer,
        calendar_name="Matrix office",
    )


@pytest.fixture
def second_team_objects(demo, other_team):
    return team_objects(
        team=other_team["team"],
        workflow=other_team["workflow"],
        queue=other_team["queue"],
        model=demo.model_version,
        requester=other_team["outsider"],
        reviewer=other_team["outsider"],
        calendar_name="Claims matrix office",
    )


def _clients(people: dict) -> dict[str, Client]:
    clients = {}
    for label, user in people.items():
        client = Client()
        client.force_login(user)
        clients[label] = client
    clients["anonymous"] = Client()
    return clients


@pytest.fixture
def first_team_askers(demo):
    """Every role of the demo team (an admin added), and an anonymous client."""
    User = get_user_model()
    people = {
        f"first team {role}": User.objects.get(username=username)
        for username, role in (
            ("alice", "reviewer"),
            ("maria", "manager"),
            ("mel", "ml_engineer"),
            ("api-client", "integrator"),
        )
    }
    admin = User.objects.create_user(username="support-admin")
    membership_add(team=demo.team, user=admin, role=Role.ADMIN)
    people["first team admin"] = admin
    return _clients(people)


@pytest.fixture
def askers(other_team):
    """Every role of the second team, an outsider with no team, and an anonymous client."""
    User = get_user_model()
    people = {"second team reviewer and ML engineer": other_team["outsider"]}
    for role in (Role.MANAGER, Role.INTEGRATOR, Role.ADMIN):
        user = User.objects.create_user(username=f"claims-{role}")
        membership_add(team=other_team["team"], user=user, role=role)
        people[f"second team {role}"] = user
    people["outsider"] = User.objects.create_user(username="nobody-at-all")
    return _clients(people)


def _is_refusal(asker: str, path: str, answer) -> bool:
    if answer.status_code in REFUSED:
        return True
    if asker == "anonymous":
        if answer.status_code == 401:
            return True
        location = answer.headers.get("Location", "")
        return answer.status_code == 302 and (
            "/accounts/login/" in location or "/admin/login/" in location
        )
    # The admin site sends non-staff people to its own sign-in.
    return path.startswith("/admin/") and answer.status_code == 302


def _matrix(objects: dict, askers: dict[str, Client], markers: tuple[str, ...]) -> None:
    failures: list[str] = []
    unmapped: set[str] = set()
    checked = 0
    for namespace, pattern in _patterns(get_resolver().url_patterns):
        if pattern.name is None:
            continue
        name = f"{namespace}{pattern.name}"
        parameters = set(pattern.pattern.regex.groupindex)
        if pattern.name in PUBLIC:
            continue
        missing = parameters - set(objects)
        if missing:
            unmapped |= {f"{name}: {parameter}" for parameter in missing}
            continue
        kwargs = {p: objects[p] for p in parameters}
        if name == "admin:app_list":
            kwargs["app_label"] = "accounts"
        path = reverse(name, kwargs=kwargs)
        methods = API_METHODS if path.startswith("/api/") else METHODS
        for asker, client in askers.items():
            for method in methods:
                answer = getattr(client, method)(path)
                checked += 1
                if answer.status_code >= 500 or (
                    parameters and not _is_refusal(asker, path, answer)
                ):
                    failures.append(f"{asker} {method.upper()} {path}: {answer.status_code}")
                elif not parameters:
                    if asker == "anonymous" and not _is_refusal(asker, path, answer):
                        failures.append(f"{asker} {method.upper()} {path}: {answer.status_code}")
                    # Exports stream: what they hold counts as much as what a page shows.
                    raw = b"".join(answer.streaming_content) if answer.streaming else answer.content
                    body = raw.decode(errors="replace")
                    shown = [marker for marker in markers if marker in body]
                    if shown:
                        failures.append(f"{asker} {method.upper()} {path} shows {shown}")
    assert not unmapped, f"path parameters without an object in the matrix: {sorted(unmapped)}"
    assert checked > 1000
    assert not failures, "\n".join(failures)


def test_the_second_team_an_outsider_and_anonymous_get_nothing_of_the_first(
    first_team_objects, askers
):
    # Words only the first team's objects carry: its workflow and its calendar.
    _matrix(first_team_objects, askers, ("ticket-triage", "Matrix office"))


def test_every_role_of_the_first_team_gets_nothing_of_the_second(
    second_team_objects, first_team_askers
):
    _matrix(second_team_objects, first_team_askers, ("claims-triage", "Claims matrix office"))
