"""Each concrete bad input once refused with a 500: now a 400/413/415/431 that names the field,
never echoes a long value back, and leaves every table as it was."""

import json

import pytest
from django.test import Client

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.models import Decision, Queue, ReviewTask
from reviewapp.review.sla.models import BusinessCalendar
from tests.support.tokens import token_for
from workflows.models import Canary, Item

INGEST = "/api/v1/workflows/ticket-triage/items"
TICKET = {"subject": "Refund", "body": "Please refund the last payment."}
LONG = "k" * 5000


def rows():
    """Everything a refused request must leave unchanged."""
    return (
        Item.objects.count(),
        AuditEvent.objects.count(),
        Decision.objects.count(),
        Canary.objects.count(),
        BusinessCalendar.objects.count(),
    )


@pytest.fixture
def integrator(demo):
    """The demo's integrator, by its token, through the whole WSGI stack (500s answered)."""
    client = Client(raise_request_exception=False)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {demo.api_token}"
    return client


def post_raw(client, body, **headers):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return client.post(INGEST, data=body, content_type="application/json", **headers)


def assert_refused(response, status=400, *, field=None):
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["detail"]
    if field is not None:
        assert field in body.get("errors", {}), body
    # Nothing long comes back: every path and message is cut.
    for path, messages in body.get("errors", {}).items():
        assert all(len(part) <= 80 for part in path.split(".")), path
        assert all(len(message) <= 300 for message in messages)
    assert len(body["detail"]) <= 300
    return body


# --- the ingest API: JSON bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,field",
    [
        ('{"input": {"subject": "a\\u0000b", "body": "x"}}', "input.subject"),
        ('{"input": {"subject": "a", "body": "x", "\\u0000": 1}}', "input.\ufffd"),
        ('{"input": {"subject": "a\\ud800b", "body": "x"}}', "input.subject"),
        ('{"input": {"subject": "a\\udfffb", "body": "x"}}', "input.subject"),
        ('{"input": {"subject": "a", "body": "x", "\\udc00": 1}}', "input.\ufffd"),
        ('{"input": {"subject": "a", "body": "x", "n": 1e400}}', "input.n"),
        (
            '{"items": [{"input": {"subject": "ok", "body": "x"}}, '
            '{"input": {"subject": "a\\u0000", "body": "x"}}]}',
            "items.1.input.subject",
        ),
    ],
    ids=[
        "nul",
        "nul-key",
        "lone-high-surrogate",
        "lone-low-surrogate",
        "surrogate-key",
        "infinite-number",
        "nul-in-a-batch",
    ],
)
def test_text_postgresql_cannot_store_is_refused_by_field(integrator, raw, field):
    before = rows()

    assert_refused(post_raw(integrator, raw), field=field)

    assert rows() == before


def test_a_paired_surrogate_is_ordinary_text(integrator):
    response = post_raw(integrator, '{"input": {"subject": "\\ud83d\\ude00", "body": "x"}}')

    assert response.status_code == 201, response.content
    assert Item.objects.get().input["subject"] == "\U0001f600"


def test_tabs_line_breaks_and_other_controls_in_an_item_are_data(integrator):
    body = {"input": {"subject": "a\tb", "body": "line\r\nform\x0cfeed \x1b[0m"}}

    response = post_raw(integrator, json.dumps(body))

    assert response.status_code == 201, response.content
    assert Item.objects.get().input == body["input"]


@pytest.mark.parametrize("depth", [65, 900, 100_000])
def test_deeply_nested_json_is_refused(integrator, depth):
    raw = '{"input": {"subject": "a", "body": "x", "extra": ' + "[" * depth + "]" * depth + "}}"
    before = rows()

    body = assert_refused(post_raw(integrator, raw))

    assert "nested" in json.dumps(body).lower()
    assert rows() == before


def test_nesting_a_real_item_might_use_is_accepted(integrator, demo):
    # Refused by the workflow's schema (no extra fields), not by the parser.
    raw = '{"input": {"subject": "a", "body": "x", "extra": ' + "[" * 30 + "]" * 30 + "}}"

    body = assert_refused(post_raw(integrator, raw), field="input.extra")

    assert body["errors"]["input.extra"] == ["This field is not allowed."]


def test_an_over_long_key_is_refused_and_not_echoed(integrator):
    raw = json.dumps({"input": {"subject": "a", "body": "x", LONG: 1}})

    body = assert_refused(post_raw(integrator, raw))

    assert LONG not in json.dumps(body)
    assert ("input." + "k" * 79 + "…") in body["errors"]


def test_a_long_rejected_value_is_cut_in_the_message(integrator):
    # customer_tier is an enum: jsonschema's message quotes the value refused.
    raw = json.dumps({"input": {"subject": "a", "body": "x", "customer_tier": LONG}})

    body = assert_refused(post_raw(integrator, raw), field="input.customer_tier")

    assert LONG[:100] not in json.dumps(body)


@pytest.mark.parametrize(
    "raw",
    [b'{"input": {"subject": "\xff\xfe", "body": "x"}}', b'{"input": NaN}', b"{", b"\x00"],
    ids=["invalid-utf8", "nan", "truncated", "nul-byte"],
)
def test_a_body_that_is_not_json_text_is_refused(integrator, raw):
    before = rows()

    assert_refused(post_raw(integrator, raw))

    assert rows() == before


def test_a_body_that_is_not_json_is_415(integrator):
    response = integrator.post(INGEST, data="subject=a", content_type="text/plain")

    assert_refused(response, 415)


def test_a_body_over_the_limit_is_413(integrator, settings):
    settings.REVIEWAPP_MAX_BODY_BYTES = 2048
    raw = json.dumps({"input": {"subject": "a", "body": "x" * 4096}})

    assert_refused(post_raw(integrator, raw), 413)


# --- the ingest API: headers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["k" * 181, "a\x00b", "two words", "caf\xe9", "²", "tab\tkey"],
    ids=["too-long", "nul", "space", "latin-1", "superscript", "tab"],
)
def test_a_bad_idempotency_key_is_refused_by_its_header_name(integrator, key):
    before = rows()

    body = assert_refused(
        post_raw(integrator, json.dumps({"input": TICKET}), HTTP_IDEMPOTENCY_KEY=key),
        field="Idempotency-Key",
    )

    assert key not in json.dumps(body)
    assert rows() == before


def test_a_batch_key_leaves_room_for_the_index(integrator):
    key = "b" * 180
    batch = {"items": [{"input": TICKET}, {"input": TICKET | {"subject": "Other"}}]}

    response = post_raw(integrator, json.dumps(batch), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 201, response.content
    assert Item.objects.filter(idempotency_key=f"{key}/1").exists()


def test_a_bad_item_key_in_a_batch_is_refused_at_its_place(integrator):
    batch = {"items": [{"input": TICKET, "idempotency_key": "no spaces please"}]}
    before = rows()

    assert_refused(post_raw(integrator, json.dumps(batch)), field="items.0.idempotency_key")

    assert rows() == before


def test_a_correlation_id_with_a_nul_is_replaced(integrator):
    response = post_raw(
        integrator, json.dumps({"input": TICKET}), HTTP_X_CORRELATION_ID="abc\x00def"
    )

    assert response.status_code == 201, response.content
    item = Item.objects.get()
    assert "\x00" not in item.correlation_id and item.correlation_id == response["X-Correlation-Id"]


@pytest.mark.parametrize("path", [INGEST, "/queues/"])
def test_an_over_long_header_is_431(integrator, manager, path):
    integrator.force_login(manager)

    response = integrator.get(path, HTTP_X_PADDING="p" * 9000)

    assert response.status_code == 431
    assert "p" * 100 not in response.content.decode()


# --- other API endpoints --------------------------------------------------------------------------


def test_a_huge_review_time_is_refused_by_the_decision_api(api, reviewer, routed_items, demo):
    routed_items(count=10, seed=5)
    client = api(reviewer)
    claimed = client.post(f"/api/v1/queues/{demo.queue.pk}/claim", format="json")
    assert claimed.status_code in (200, 201), claimed.content
    task = claimed.json()
    before = rows()

    response = client.post(
        f"/api/v1/tasks/{task['id']}/decision",
        {"outcome": "accept", "claim_token": task["claim_token"], "time_spent_ms": 2**40},
        format="json",
    )

    assert_refused(response, field="time_spent_ms")
    assert rows() == before


def test_a_huge_canary_sample_is_refused(api, demo, approver):
    before = rows()

    response = api(approver).post(
        "/api/v1/workflows/ticket-triage/canaries",
        {"candidate": "nope@1", "percent": 10, "min_sample": 2**40},
        format="json",
    )

    assert response.status_code in (400, 404), response.content
    assert rows() == before


def test_a_control_character_in_a_settings_name_is_refused(api, manager, demo):
    before = rows()

    response = api(manager).post(
        "/api/v1/calendars/",
        {"name": "Berlin\x1boffice", "time_zone": "Europe/Berlin", "working_hours": {}},
        format="json",
    )

    assert_refused(response, field="name")
    assert rows() == before


# --- pages and their forms ----------------------------------------------------------------------


@pytest.fixture
def browser(manager):
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    return client


@pytest.mark.parametrize(
    "field,typed", [("comment", "looks fine\x00"), ("outcome", "accept\x07"), ("a\x00", "x")]
)
def test_a_decision_form_with_control_characters_is_refused_and_nothing_saved(
    browser, reviewer, routed_items, demo, field, typed
):
    routed_items(count=10, seed=5)
    browser.force_login(reviewer)
    claimed = browser.post(f"/queues/{demo.queue.pk}/next")
    task_url = claimed["Location"]
    before = rows()

    task = ReviewTask.objects.get(pk=task_url.strip("/").split("/")[-1])

    response = browser.post(
        f"{task_url}decide",
        {"outcome": "accept", "claim_token": task.claim_token, field: typed},
    )

    assert response.status_code == 400
    assert "could not be accepted" in response.content.decode()
    assert rows() == before


@pytest.mark.parametrize("typed", ["²", "٣", "9" * 30, "-1", "1e3"])
def test_odd_digits_in_a_queue_settings_number_are_a_field_message(browser, demo, typed):
    response = browser.post(
        f"/board/queues/{demo.queue.pk}/settings/claims",
        {
            "urgency_weight": "10",
            "priority_weight": "1",
            "uncertainty_weight": "1",
            "max_claims_per_reviewer": typed,
            "required_skills": "",
            "language_field": "",
            "notify_webhook_url": "",
            "notify_webhook_secret_env": "",
        },
    )

    assert response.status_code in (302, 422), response.content[:300]
    assert Queue.objects.get(pk=demo.queue.pk).max_claims_per_reviewer in (None, 3)


@pytest.mark.parametrize("typed", ["²", "٣", "9" * 30, "x\x00"])
def test_odd_calendar_ids_in_the_settings_page_are_not_found(browser, demo, typed):
    shown = browser.get(f"/board/queues/{demo.queue.pk}/settings/", {"calendar": typed})
    saved = browser.post(
        f"/board/queues/{demo.queue.pk}/settings/calendar",
        {"calendar": typed, "name": "x", "time_zone": "UTC"},
    )

    assert shown.status_code in (200, 400, 404)
    assert saved.status_code in (400, 404)


@pytest.mark.parametrize("typed", ["²", "9" * 30])
def test_odd_digits_in_review_time_are_not_recorded(browser, reviewer, routed_items, demo, typed):
    routed_items(count=10, seed=5)
    browser.force_login(reviewer)
    task_url = browser.post(f"/queues/{demo.queue.pk}/next")["Location"]
    task = ReviewTask.objects.get(pk=task_url.strip("/").split("/")[-1])

    response = browser.post(
        f"{task_url}decide",
        {"outcome": "accept", "claim_token": task.claim_token, "time_spent_ms": typed},
    )

    assert response.status_code in (200, 302), response.content[:300]
    assert Decision.objects.get().time_spent_ms is None


@pytest.mark.parametrize("query", [{"q": "a\x00"}, {"k" * 300: "1"}, {"page": "\x1b"}])
def test_a_bad_query_parameter_is_refused_on_pages_and_api(browser, query, demo):
    page = browser.get("/audit/", query)
    api = browser.get("/api/v1/queues/", query)

    assert page.status_code == 400
    assert "could not be accepted" in page.content.decode()
    assert api.status_code == 400
    assert api.json()["errors"]


def test_the_token_of_a_manager_works_for_the_api(demo, manager):
    # The fuzz tests call the API with this token; keep the way it is made honest.
    assert token_for(manager)


def test_a_json_body_over_the_limit_is_413_on_every_endpoint(api, manager, demo, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = rows()

    response = api(manager).post(
        "/api/v1/calendars/", {"name": "x" * 4096, "time_zone": "UTC"}, format="json"
    )

    assert response.status_code == 413, response.content[:300]
    assert rows() == before
