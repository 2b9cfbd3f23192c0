"""The schema describes what the API really answers: real responses of the typed endpoints are
validated against /api/schema/, with no property left undescribed."""

import copy

import jsonschema
import pytest
from django.urls import resolve

from reviewapp.learn.datasets.services import dataset_export_build
from reviewapp.review.reviews.models import ReviewTask, TaskStatus


@pytest.fixture
def schema(client, integrator):
    client.force_login(integrator)  # the schema is for signed-in people
    answer = client.get("/api/schema/", {"format": "json"}).json()
    client.logout()
    return answer


def _json_schema(node, components):
    """OpenAPI 3.0 -> JSON Schema: refs inlined, ``nullable`` as a null alternative, and objects
    closed, so a key the schema does not name fails too."""
    if isinstance(node, list):
        return [_json_schema(part, components) for part in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[1]], components)
    node = {key: _json_schema(value, components) for key, value in node.items()}
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _operation_for(schema, path):
    """The schema's operation for a concrete path, found through Django's URL resolver."""
    route = "/" + resolve(path).route
    for template in schema["paths"]:
        converted = template
        for name in resolve(path).kwargs:
            converted = converted.replace("{" + name + "}", f"<{name}>")
        if route.replace("int:", "").replace("slug:", "").replace("str:", "") == converted:
            return schema["paths"][template]
    raise AssertionError(f"no operation in the schema for {path}")


def check(schema, method, path, answer, expected_status):
    assert answer.status_code == expected_status, answer.content
    operation = _operation_for(schema, path)[method]
    described = operation["responses"][str(expected_status)]["content"]["application/json"]
    body_schema = _json_schema(copy.deepcopy(described["schema"]), schema["components"]["schemas"])
    jsonschema.validate(answer.json(), body_schema)
    return answer.json()


@pytest.mark.django_db
def test_reviewing_through_the_api_answers_as_described(schema, api, reviewer, routed_items, demo):
    routed_items(count=20)
    client = api(reviewer)
    check(schema, "get", "/api/v1/queues/", client.get("/api/v1/queues/"), 200)
    claim = f"/api/v1/queues/{demo.queue.pk}/claim"
    task = check(schema, "post", claim, client.post(claim), 200)
    detail = f"/api/v1/tasks/{task['id']}"
    check(schema, "get", detail, client.get(detail), 200)
    token = {"claim_token": task["claim_token"]}
    extend = f"{detail}/extend"
    check(schema, "post", extend, client.post(extend, token, format="json"), 200)
    decide = f"{detail}/decision"
    body = token | {"outcome": "accept", "next": True}
    decided = check(schema, "post", decide, client.post(decide, body, format="json"), 201)
    following = decided["next"]
    release = f"/api/v1/tasks/{following['id']}/release"
    body = {"claim_token": following["claim_token"]}
    check(schema, "post", release, client.post(release, body, format="json"), 200)
    again = check(schema, "post", claim, client.post(claim), 200)
    skip = f"/api/v1/tasks/{again['id']}/skip"
    body = {"claim_token": again["claim_token"], "reason": "not my language"}
    check(schema, "post", skip, client.post(skip, body, format="json"), 200)

    item = ReviewTask.objects.filter(status=TaskStatus.DECIDED).first().item_id
    path = f"/api/v1/items/{item}"
    check(schema, "get", path, client.get(path), 200)


@pytest.mark.django_db
def test_ingest_and_exports_answer_as_described(
    schema, api, integrator, requester, approver, reviewer, routed_items, demo
):
    items = f"/api/v1/workflows/{demo.workflow.slug}/items"
    one = {"input": {"subject": "Refund", "body": "charged twice"}}
    check(schema, "post", items, api(integrator).post(items, one, format="json"), 201)
    batch = {"items": [one, one]}
    check(schema, "post", items, api(integrator).post(items, batch, format="json"), 201)

    routed_items(count=30)
    client = api(reviewer)
    while (claimed := client.post(f"/api/v1/queues/{demo.queue.pk}/claim")).status_code == 200:
        task = claimed.json()
        label = "technical" if task["prediction"]["output"]["label"] != "technical" else "billing"
        body = {
            "claim_token": task["claim_token"],
            "outcome": "correct",
            "output": {"label": label},
            "reason_codes": ["wrong-category"],
        }
        client.post(f"/api/v1/tasks/{task['id']}/decision", body, format="json")

    exports = "/api/v1/exports/"
    request = {"workflow": demo.workflow.slug, "format": "jsonl", "filters": {}}
    made = api(requester).post(exports, request, format="json")
    export = check(schema, "post", exports, made, 201)
    check(schema, "get", exports, api(requester).get(exports), 200)
    path = f"/api/v1/exports/{export['id']}"
    check(schema, "get", path, api(requester).get(path), 200)
    approve = f"{path}/approve"
    check(schema, "post", approve, api(approver).post(approve, {}, format="json"), 200)
    dataset_export_build(export_id=export["id"])
    built = check(schema, "get", path, api(requester).get(path), 200)
    assert built["files"] and built["diff"] == {"previous": None} and built["release_url"]
    several = {"workflow": demo.workflow.slug, "formats": ["jsonl", "csv"]}
    check(schema, "post", exports, api(requester).post(exports, several, format="json"), 201)
    second = check(
        schema, "post", exports, api(requester).post(exports, request, format="json"), 201
    )
    reject = f"/api/v1/exports/{second['id']}/reject"
    body = {"reason": "not needed"}
    check(schema, "post", reject, api(approver).post(reject, body, format="json"), 200)


@pytest.mark.django_db
def test_managers_settings_and_assignments_answer_as_described(
    schema, api, manager, reviewer, routed_items, demo
):
    routed_items(count=20)
    client = api(manager)
    queue = demo.queue.pk
    policy = f"/api/v1/queues/{queue}/sla-policy"
    check(schema, "get", policy, client.get(policy), 200)
    calendars = "/api/v1/calendars/"
    calendar = {
        "name": "Office",
        "time_zone": "Europe/Berlin",
        "working_hours": {"mon": [["09:00", "17:00"]]},
        "holidays": ["2026-12-25"],
    }
    made = check(schema, "post", calendars, client.post(calendars, calendar, format="json"), 201)
    check(schema, "get", calendars, client.get(calendars), 200)
    one = f"/api/v1/calendars/{made['id']}"
    check(schema, "get", one, client.get(one), 200)
    check(schema, "put", one, client.put(one, calendar, format="json"), 200)
    body = {"target_minutes": 60, "warn_at_percent": 75, "calendar": made["id"]}
    check(schema, "put", policy, client.put(policy, body, format="json"), 200)
    steps = f"/api/v1/queues/{queue}/escalation-steps"
    step = {"after_minutes": 0, "action": "raise_priority", "priority_boost": 5}
    check(schema, "post", steps, client.post(steps, step, format="json"), 201)
    check(schema, "get", steps, client.get(steps), 200)

    bulk = f"/api/v1/queues/{queue}/assign"
    body = {"reviewer": reviewer.username, "count": 2}
    assigned = check(schema, "post", bulk, client.post(bulk, body, format="json"), 200)
    unassign = f"/api/v1/tasks/{assigned['assigned'][0]}/unassign"
    check(schema, "post", unassign, client.post(unassign), 200)
    assign = f"/api/v1/tasks/{assigned['assigned'][0]}/assign"
    body = {"reviewer": reviewer.username}
    check(schema, "post", assign, client.post(assign, body, format="json"), 200)


@pytest.mark.django_db
def test_queue_quality_profiles_and_simulation_answer_as_described(
    schema, api, manager, requester, reviewer, routed_items, demo
):
    routed_items(count=20)
    client = api(manager)
    queue = demo.queue.pk
    settings_path = f"/api/v1/queues/{queue}/settings"
    check(schema, "get", settings_path, client.get(settings_path), 200)
    change = {"urgency_weight": 5, "required_skills": ["billing"]}
    check(schema, "patch", settings_path, client.patch(settings_path, change, format="json"), 200)
    quality = f"/api/v1/queues/{queue}/quality-settings"
    check(schema, "get", quality, client.get(quality), 200)
    body = {"gold_rate": 0.1}
    check(schema, "patch", quality, client.patch(quality, body, format="json"), 200)
    gold = f"/api/v1/queues/{queue}/gold-items"
    body = {
        "input": {"subject": "Refund", "body": "I was charged twice"},
        "expected_output": {"label": "billing"},
    }
    made = check(schema, "post", gold, client.post(gold, body, format="json"), 201)
    listed = check(schema, "get", gold, client.get(gold), 200)
    assert [row["id"] for row in listed["gold_items"]] == [made["id"]]
    retire = f"{gold}/{made['id']}/retire"
    assert check(schema, "post", retire, client.post(retire), 200)["active"] is False
    people = f"/api/v1/queues/{queue}/reviewer-quality"
    check(schema, "get", people, client.get(people), 200)
    profile = f"/api/v1/reviewers/{reviewer.username}/profile"
    body = {"skills": ["billing"], "max_claims": 3}
    check(schema, "patch", profile, client.patch(profile, body, format="json"), 200)

    simulate = f"/api/v1/workflows/{demo.workflow.slug}/simulate"
    body = {"policy": demo.workflow.current_version.definition["routing"], "last": 50}
    replayed = check(
        schema, "post", simulate, api(requester).post(simulate, body, format="json"), 200
    )
    assert replayed["current"]["total"]["items"] > 0
    preview = "/api/v1/exports/preview"
    body = {"workflow": demo.workflow.slug, "filters": {}}
    check(schema, "post", preview, api(requester).post(preview, body, format="json"), 200)
    canaries = f"/api/v1/workflows/{demo.workflow.slug}/canaries"
    check(schema, "get", canaries, api(requester).get(canaries), 200)
    rates = f"/api/v1/workflows/{demo.workflow.slug}/pairwise"
    check(schema, "get", rates, api(requester).get(rates), 200)


@pytest.mark.django_db
def test_approvals_answer_as_described(schema, api, integrator, agent_actions):
    ask = {
        "workflow": "agent-actions",
        "tool": "refund",
        "arguments": {"order": "A-17", "amount": 120},
        "context": {"conversation": "The parcel never arrived."},
        "risk_level": "medium",
        "requested_by": "billing-agent",
    }
    client = api(integrator)
    made = check(
        schema,
        "post",
        "/api/v1/approvals",
        client.post("/api/v1/approvals", ask, format="json"),
        201,
    )
    one = f"/api/v1/approvals/{made['id']}"
    assert check(schema, "get", one, client.get(one), 200)["status"] == "pending"
    wait = f"{one}/wait"
    check(schema, "get", wait, client.get(wait, {"timeout": 0}), 200)


@pytest.mark.django_db
def test_an_address_nothing_answers_is_json_under_the_api_and_a_page_elsewhere(client):
    answer = client.get("/api/v1/approvals/1.5")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {"detail": "No such address, or no such object."}
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
