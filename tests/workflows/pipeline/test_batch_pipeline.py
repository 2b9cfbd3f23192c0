"""The pipeline over batches: one transaction per step for the whole batch, failures that stay
with their own item, redelivery that does nothing twice, and the cost budget."""

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.review.reviews.models import ReviewTask
from tests.workflows.pipeline.fake_endpoints import FakeEndpoint, chat_answer
from workflows.demo.definition import TICKET_TRIAGE
from workflows.ingest.services import Submission, items_ingest
from workflows.models import (
    Item,
    ItemStatus,
    ModelAdapterKind,
    ModelVersion,
    Prediction,
    PromptTemplate,
    StepRun,
    StepRunStatus,
)
from workflows.pipeline.engine import items_run, items_run_step
from workflows.pipeline.order import STEP_NAMES
from workflows.pipeline.tasks import run_items
from workflows.services import workflow_publish

TICKET = {"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"}
SETTLED = {ItemStatus.COMPLETED, ItemStatus.AWAITING_REVIEW}
GOOD = chat_answer('{"label": "billing"}', logprobs=[-0.01])
OFF_SCHEMA = chat_answer('{"label": "refund-request"}', logprobs=[-0.01])


def ingest(workflow, integrator, count):
    results = items_ingest(
        workflow=workflow,
        submissions=[Submission(input=TICKET | {"subject": f"Refund {n}"}) for n in range(count)],
        submitted_by=integrator,
    )
    return [item.pk for item, _ in results]


def statuses(item_ids):
    return dict(Item.objects.filter(pk__in=item_ids).values_list("pk", "status"))


def ran_once(item_id):
    runs = Counter(StepRun.objects.filter(item=item_id).values_list("step", "status"))
    return runs == Counter({(step, StepRunStatus.SUCCEEDED): 1 for step in STEP_NAMES})


@pytest.fixture
def endpoint():
    server = FakeEndpoint()
    yield server
    server.close()


@pytest.fixture
def llm_workflow(demo, endpoint):
    """The demo workflow on a chat model that costs (120 * 0.5 + 8 * 1.5) / 1000 per answer."""
    PromptTemplate.objects.create(name="triage", version=1, user="Subject: {subject}\n{body}")
    ModelVersion.objects.create(
        name="llm-triage",
        version="1",
        adapter=ModelAdapterKind.OPENAI,
        labels=[],
        config={
            "base_url": f"{endpoint.url}/v1",
            "model": "small-model",
            "timeout_s": 2,
            "price_in_per_1k": 0.5,
            "price_out_per_1k": 1.5,
            "prompt": {"name": "triage", "version": 1},
        },
    )

    def publish(**changes):
        definition = TICKET_TRIAGE.definition | {"model": {"name": "llm-triage", "version": "1"}}
        return workflow_publish(
            slug=demo.workflow.slug,
            name=demo.workflow.name,
            team=demo.team,
            definition=definition | changes,
        )

    return publish


def test_a_batch_runs_every_item_through_every_step_once(demo, integrator):
    item_ids = ingest(demo.workflow, integrator, 12)

    assert items_run(item_ids=item_ids) == {}

    assert set(statuses(item_ids).values()) <= SETTLED
    assert all(ran_once(pk) for pk in item_ids)
    assert Prediction.objects.filter(item__in=item_ids).count() == 12
    in_review = [pk for pk, status in statuses(item_ids).items() if status == "awaiting_review"]
    assert Counter(ReviewTask.objects.filter(item__in=item_ids).values_list("item", flat=True)) == (
        Counter(in_review)
    )
    item = Item.objects.get(pk=item_ids[0])
    assert item.routing["rule"] and item.current_step == ""
    # The batch's events went to the audit chain hash-linked, and the chain still verifies.
    assert audit_verify().broken is None
    running = AuditEvent.objects.filter(action="item.running", object_id__in=map(str, item_ids))
    assert running.count() == 12 and running.values("shard").distinct().count() == 1


def test_one_item_failing_validation_is_dead_lettered_and_the_rest_of_its_batch_goes_on(
    demo, integrator
):
    first, broken, last = ingest(demo.workflow, integrator, 3)
    # Ingest validated it; only a change underneath (here: by hand) can make it invalid.
    Item.objects.filter(pk=broken).update(input={"subject": "no body"})

    assert items_run(item_ids=[first, broken, last]) == {}

    item = Item.objects.get(pk=broken)
    assert item.status == ItemStatus.DEAD_LETTERED
    assert item.dead_letter_reason.startswith("validate failed after 1 attempt(s): input does not")
    assert "body" in item.dead_letter_reason
    assert StepRun.objects.get(item=broken).status == StepRunStatus.FAILED
    assert AuditEvent.objects.filter(action="item.dead_lettered", object_id=str(broken)).exists()
    assert statuses([first, last]).keys() == {first, last}
    assert set(statuses([first, last]).values()) <= SETTLED
    assert ran_once(first) and ran_once(last)


def test_a_redelivered_batch_message_does_nothing_twice(demo, integrator):
    item_ids = ingest(demo.workflow, integrator, 8)
    # The first delivery dies after validate committed; the redelivery does the rest.
    items_run_step(item_ids=item_ids, step="validate")
    run_items(item_ids)
    after_first = {
        "runs": StepRun.objects.count(),
        "events": AuditEvent.objects.count(),
        "tasks": ReviewTask.objects.count(),
        "items": statuses(item_ids),
    }

    run_items(item_ids)  # the same message once more, after everything ran

    assert StepRun.objects.count() == after_first["runs"]
    assert AuditEvent.objects.count() == after_first["events"]
    assert ReviewTask.objects.count() == after_first["tasks"]
    assert statuses(item_ids) == after_first["items"]
    assert all(ran_once(pk) for pk in item_ids)
    routed = AuditEvent.objects.filter(
        object_type="workflows.item", action__in=["item.completed", "item.sent_to_review"]
    )
    assert Counter(routed.values_list("object_id", flat=True)) == Counter(
        str(pk) for pk in item_ids
    )


def test_a_failed_answer_is_retried_for_its_own_item_only(
    llm_workflow, integrator, endpoint, settings, broker
):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 3
    first, failing, last = ingest(llm_workflow(), integrator, 3)
    endpoint.answers = [(200, GOOD), (200, OFF_SCHEMA), (200, GOOD)]

    run_items([first, failing, last])

    assert len(endpoint.requests) == 3  # the chat protocol: one call per item
    item = Item.objects.get(pk=failing)
    assert (item.status, item.current_step, item.step_failures) == ("running", "infer", 1)
    assert (
        "does not match the output schema" in StepRun.objects.get(item=failing, step="infer").error
    )
    assert ran_once(first) and ran_once(last)
    # Only the failed item goes round again, in a message of its own.
    assert broker() == [("workflows.run_items", [[failing]])]

    endpoint.answers = [(200, GOOD)]
    run_items([failing])
    attempts = StepRun.objects.filter(item=failing, step="infer").order_by("attempt")
    assert list(attempts.values_list("attempt", "status")) == [(1, "failed"), (2, "succeeded")]
    assert Item.objects.get(pk=failing).status in SETTLED


def test_an_item_out_of_attempts_is_dead_lettered_alone(
    llm_workflow, integrator, endpoint, settings
):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 1
    first, failing, last = ingest(llm_workflow(), integrator, 3)
    endpoint.answers = [(200, GOOD), (500, {"error": "overloaded"}), (200, GOOD)]

    assert items_run(item_ids=[first, failing, last]) == {}

    item = Item.objects.get(pk=failing)
    assert item.status == ItemStatus.DEAD_LETTERED
    assert item.dead_letter_reason == (
        f"infer failed after 1 attempt(s): {endpoint.url}/v1 answered HTTP 500"
    )
    assert ran_once(first) and ran_once(last)
    assert set(statuses([first, last]).values()) <= SETTLED


def test_the_cost_budget_dead_letters_an_item_whose_answers_cost_too_much(
    llm_workflow, integrator, endpoint, settings
):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 10
    answer_cost = (120 * 0.5 + 8 * 1.5) / 1000  # 0.072
    (item_id,) = ingest(llm_workflow(budget={"max_cost": 0.1}), integrator, 1)
    endpoint.default = (200, OFF_SCHEMA)  # answers that cost but cannot be used

    assert item_run_infer_attempts(item_id, 3) == [True, True, False]

    item = Item.objects.get(pk=item_id)
    assert item.status == ItemStatus.DEAD_LETTERED
    assert item.dead_letter_reason == ("execution budget exhausted: cost 0.144 spent (limit 0.1)")
    runs = StepRun.objects.filter(item=item_id, step="infer")
    assert list(runs.values_list("cost", flat=True)) == [pytest.approx(answer_cost)] * 2
    assert len(endpoint.requests) == 2  # the third call was never made


def item_run_infer_attempts(item_id, count):
    """Run the item's pipeline ``count`` times; whether each left the item to retry."""
    return [bool(items_run(item_ids=[item_id])) for _ in range(count)]


def test_an_item_within_its_cost_budget_finishes(llm_workflow, integrator, endpoint):
    (item_id,) = ingest(llm_workflow(budget={"max_cost": 0.072}), integrator, 1)
    endpoint.default = (200, GOOD)

    assert items_run(item_ids=[item_id]) == {}

    assert Item.objects.get(pk=item_id).status in SETTLED
    assert StepRun.objects.get(item=item_id, step="infer").cost == pytest.approx(0.072)


def test_the_queries_of_a_batch_do_not_grow_with_its_size(demo, integrator):
    """Every item auto-accepted (review tasks are opened one by one, see the engine)."""
    workflow = workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"routing": {"threshold": 0.0}},
    )

    def queries_for(count):
        item_ids = ingest(workflow, integrator, count)
        with CaptureQueriesContext(connection) as queries:
            items_run(item_ids=item_ids)
        assert set(statuses(item_ids).values()) == {ItemStatus.COMPLETED}
        return len(queries)

    assert queries_for(2) == queries_for(25)
