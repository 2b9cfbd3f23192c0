"""Property-based fuzzing of the ingest API and the main forms: whatever arrives, no 5xx, and a
refused request leaves every table as it was.

The strategies mix ordinary text with what once gave 500s: NUL, lone surrogates, control
characters, non-ASCII digits, huge numbers, over-long keys and deep nesting. Requests go through
the whole Django stack (middleware, parsers, services, PostgreSQL). A refusal by the database
itself (the DataError net in ``core.request_checks``) counts as a failure too: every field must
refuse its own bad values, with its own message.
"""

import json
import logging

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.datasets.models import DatasetExport
from reviewapp.review.reviews.models import Decision, Queue, ReviewTask
from reviewapp.review.sla.models import BusinessCalendar, EscalationStep, SlaPolicy
from workflows.models import Item

NASTY = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "\x1b[31m",
    "\x07",
    "\x7f",
    "²",
    "٣",
    "\uff11\uff12",  # fullwidth digits
    "9" * 30,
    "-1",
    "1e400",
    "NaN",
    "Infinity",
    "",
    " ",
    "\t\n",
    "k" * 300,
    "null",
    "0x10",
    "0001-01-01",
    "9999-12-31T23:59:59-14:00",
    "2026-13-45",
    "24:00-25:00",
    "Mars/Olympus",
]
# Text as a person or a program might send it, and the cases above, often.
text = st.one_of(
    st.sampled_from(NASTY),
    st.text(alphabet=st.characters(exclude_categories=[]), max_size=40),
    st.from_regex(r"[0-9]{1,25}", fullmatch=True),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    text,
)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def rows():
    """Every table a request may write, and the queue settings a form changes."""
    queue = Queue.objects.values().order_by("pk").first()
    return (
        Item.objects.count(),
        AuditEvent.objects.count(),
        Decision.objects.count(),
        DatasetExport.objects.count(),
        SlaPolicy.objects.count(),
        BusinessCalendar.objects.count(),
        EscalationStep.objects.count(),
        ReviewTask.objects.filter(status="decided").count(),
        json.dumps(queue, sort_keys=True, default=str),
    )


@pytest.fixture
def no_database_refusals(caplog):
    """Fails the test if a value got as far as PostgreSQL and was refused there."""
    caplog.set_level(logging.WARNING, logger="reviewapp.core")
    yield
    refused = [r.getMessage() for r in caplog.records if "refused by the database" in r.message]
    assert not refused, refused


def check(response, before):
    assert response.status_code < 500, response.content[:500]
    if 400 <= response.status_code < 500:
        assert rows() == before, f"a refused request ({response.status_code}) wrote rows"


def nested(depth):
    return "[" * depth + "]" * depth


# --- the ingest API -----------------------------------------------------------------------------

ticket = st.fixed_dictionaries(
    {"subject": text, "body": text}, optional={"customer_tier": text, "extra": json_values}
)
ingest_bodies = st.one_of(
    st.builds(lambda value: {"input": value}, ticket | json_values),
    st.builds(
        lambda items: {"items": items},
        st.lists(
            st.fixed_dictionaries({"input": ticket}, optional={"idempotency_key": text}),
            max_size=3,
        ),
    ),
    json_values,
)
raw_bodies = st.one_of(
    ingest_bodies.map(lambda body: json.dumps(body).encode()),
    st.binary(max_size=60),
    st.integers(min_value=60, max_value=1200).map(
        lambda depth: (
            '{"input": {"subject": "a", "body": "b", "x": ' + nested(depth) + "}}"
        ).encode()
    ),
)


@FUZZ
@given(body=raw_bodies, key=st.none() | text, correlation=st.none() | text)
def test_ingest_never_answers_5xx_nor_half_writes(
    demo, no_database_refusals, body, key, correlation
):
    client = Client(raise_request_exception=False)
    headers = {"HTTP_AUTHORIZATION": f"Token {demo.api_token}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    if correlation is not None:
        headers["HTTP_X_CORRELATION_ID"] = correlation
    before = rows()
    items_before = Item.objects.count()
    received_before = AuditEvent.objects.filter(action="item.received").count()

    response = client.post(
        "/api/v1/workflows/ticket-triage/items",
        data=body,
        content_type="application/json",
        **headers,
    )

    check(response, before)
    if response.status_code >= 400:
        assert response.json()["detail"]
    # Whatever was stored was stored whole: each new item has its audit event.
    new_items = Item.objects.count() - items_before
    assert new_items == AuditEvent.objects.filter(action="item.received").count() - received_before


# --- the main forms -----------------------------------------------------------------------------


# A form cannot carry a lone surrogate: the browser's invalid UTF-8 arrives as U+FFFD.
form_text = text.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


def form_with(names):
    """A form whose known fields hold fuzzed text, or fuzzed fields altogether."""
    return st.fixed_dictionaries(
        {}, optional={name: form_text | st.lists(form_text, max_size=3) for name in names}
    ) | st.dictionaries(form_text, form_text, max_size=3)


@pytest.fixture
def manager_browser(manager):
    client = Client(raise_request_exception=False)
    client.force_login(manager)
    return client


@pytest.fixture
def reviewer_on_a_task(reviewer, routed_items, demo):
    routed_items(count=10, seed=5)
    client = Client(raise_request_exception=False)
    client.force_login(reviewer)
    task_url = client.post(f"/queues/{demo.queue.pk}/next")["Location"]
    task = ReviewTask.objects.get(pk=task_url.strip("/").split("/")[-1])
    return client, task


DECISION_FIELDS = [
    "outcome",
    "claim_token",
    "comment",
    "time_spent_ms",
    "reason_codes",
    "reason_codes_reject",
    "output.label",
    "output.priority",
    "next",
]


@FUZZ
@given(form=form_with(DECISION_FIELDS), keep_token=st.booleans())
def test_the_review_decision_form_never_answers_5xx(
    reviewer_on_a_task, no_database_refusals, form, keep_token
):
    client, task = reviewer_on_a_task
    if keep_token and isinstance(form, dict):
        form["claim_token"] = str(task.claim_token)
    before = rows()

    check(client.post(f"/review/{task.pk}/decide", form), before)


SETTINGS_FORMS = {
    "claims": [
        "urgency_weight",
        "priority_weight",
        "uncertainty_weight",
        "max_claims_per_reviewer",
        "required_skills",
        "language_field",
        "notify_webhook_url",
        "notify_webhook_secret_env",
    ],
    "sla": ["target_minutes", "warn_at_percent", "calendar"],
    "calendar": ["calendar", "name", "time_zone", "holidays", "hours_mon", "hours_sat"],
    "escalations": [
        "trigger",
        "after_minutes",
        "action",
        "priority_boost",
        "target_queue",
        "recipient",
    ],
}


@pytest.mark.parametrize("section", list(SETTINGS_FORMS))
def test_the_queue_settings_forms_never_answer_5xx(manager_browser, demo, section):
    url = f"/board/queues/{demo.queue.pk}/settings/{section}"

    @FUZZ
    @given(form=form_with(SETTINGS_FORMS[section]), htmx=st.booleans())
    def fuzz(form, htmx):
        before = rows()
        extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
        check(manager_browser.post(url, form, **extra), before)

    fuzz()


DATASET_FIELDS = [
    "workflow",
    "format",
    "created_after",
    "created_before",
    "decision",
    "queues",
    "reason_codes",
    "workflow_versions",
    "qa_samples_only",
    "note",
    "include_sensitive",
]


@FUZZ
@given(form=form_with(DATASET_FIELDS), real_workflow=st.booleans())
def test_the_dataset_request_form_never_answers_5xx(
    requester, demo, no_database_refusals, form, real_workflow
):
    client = Client(raise_request_exception=False)
    client.force_login(requester)
    if real_workflow and isinstance(form, dict):
        form["workflow"] = "ticket-triage"
    before = rows()

    check(client.post("/datasets/request", form), before)


@FUZZ
@given(query=st.dictionaries(form_text, form_text, max_size=3))
def test_pages_and_lists_never_answer_5xx_to_query_parameters(manager_browser, demo, query):
    for url in (
        "/queues/",
        "/board/",
        "/audit/",
        "/audit/export.csv",
        "/datasets/",
        "/dead-letters/",
        f"/board/queues/{demo.queue.pk}/",
        f"/board/queues/{demo.queue.pk}/settings/",
        "/api/v1/queues/",
        "/api/v1/exports/",
        "/api/v1/calendars/",
    ):
        response = manager_browser.get(url, query)
        assert response.status_code < 500, (url, response.content[:300])
