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
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.review.quality.models import GoldItem
from reviewapp.review.sla.configuration import business_calendar_save, escalation_step_add
from reviewapp.review.sla.models import EscalationAction
from workflows.models import Canary, ModelVersion, TrainingRun, WebhookDelivery

pytestmark = pytest.mark.django_db

# Answers that refuse without saying whether the object exists or doing anything.
REFUSED = {403, 404, 405}
# Routes anyone may reach, and why.
PUBLIC = {
    "home": "redirects to the queue list, which asks for sign-in",
    "login": "the sign-in page",
    "logout": "signing out",
}
# Words that only the first team's objects carry (its workflow, queue and calendar).
FIRST_TEAMS_MARKERS = ("ticket-triage", "Matrix office")
METHODS = ("get", "post")
API_METHODS = ("get", "post", "put", "patch", "delete")


def _patterns(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _patterns(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            yield namespace, pattern


@pytest.fixture
def first_team_objects(demo, routed_items, requester):
    """One of every kind of object of the demo team, by path parameter name."""
    item = routed_items(count=12)[0]
    task = item.tasks.first()
    export = DatasetExport.objects.create(
        workflow=demo.workflow, requested_by=requester, requested_at=timezone.now()
    )
    candidate = ModelVersion.objects.create(
        team=demo.team,
        name="matrix-candidate",
        version="1",
        artefact=demo.model_version.artefact,
        sha256=demo.model_version.sha256,
        labels=demo.model_version.labels,
    )
    canary = Canary.objects.create(
        workflow=demo.workflow,
        stable=demo.model_version,
        candidate=candidate,
        percent=10,
        min_sample=5,
        gates={},
        started_at=timezone.now(),
    )
    run = TrainingRun.objects.create(
        workflow=demo.workflow, release=export, requested_at=timezone.now()
    )
    calendar = business_calendar_save(
        name="Matrix office",
        time_zone="UTC",
        working_hours={"mon": [["09:00", "17:00"]]},
        team=demo.team,
    )
    step = escalation_step_add(
        queue=demo.queue, after_minutes=10, action=EscalationAction.RAISE_PRIORITY, priority_boost=1
    )
    gold = GoldItem.objects.create(
        queue=demo.queue, input=item.input, expected_output={}, proposed_output={}
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
    return {
        "slug": demo.workflow.slug,
        "queue_id": demo.queue.pk,
        "task_id": task.pk,
        "item_id": item.pk,
        "export_id": export.pk,
        "canary_id": canary.pk,
        "run_id": run.pk,
        "calendar_id": calendar.pk,
        "step_id": step.pk,
        "gold_id": gold.pk,
        "delivery_id": delivery.pk,
        "model_id": candidate.pk,
        "token_id": token.pk,
        "username": "alice",
        # Django admin: the staff-only site refuses everyone here whatever the object.
        "object_id": str(item.pk),
        "app_label": "accounts",
        "content_type_id": "1",
        "url": "workflows/",
        "id": str(requester.pk),
    }


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
    clients = {}
    for label, user in people.items():
        client = Client()
        client.force_login(user)
        clients[label] = client
    clients["anonymous"] = Client()
    return clients


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


def test_every_route_refuses_another_teams_objects(first_team_objects, askers):
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
        missing = parameters - set(first_team_objects)
        if missing:
            unmapped |= {f"{name}: {parameter}" for parameter in missing}
            continue
        kwargs = {p: first_team_objects[p] for p in parameters}
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
                    body = answer.content.decode(errors="replace")
                    shown = [marker for marker in FIRST_TEAMS_MARKERS if marker in body]
                    if shown:
                        failures.append(f"{asker} {method.upper()} {path} shows {shown}")
    assert not unmapped, f"path parameters without an object in the matrix: {sorted(unmapped)}"
    assert checked > 1000
    assert not failures, "\n".join(failures)
