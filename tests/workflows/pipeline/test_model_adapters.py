"""Model adapters against scripted endpoints, and the circuit breaker around them."""

import math
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.conftest import run_pipeline
from tests.workflows.pipeline.fake_endpoints import FakeEndpoint, chat_answer
from workflows.demo.definition import TICKET_TRIAGE
from workflows.ingest.services import Submission, items_ingest
from workflows.models import (
    BreakerState,
    CircuitBreaker,
    Item,
    ModelAdapterKind,
    ModelVersion,
    PromptTemplate,
    StepRun,
)
from workflows.pipeline.adapters.base import ModelError, ModelInput
from workflows.pipeline.adapters.label_studio_ml import LabelStudioMLAdapter
from workflows.pipeline.adapters.openai_compat import OpenAICompatAdapter, render_prompt
from workflows.pipeline.engine import item_run_step
from workflows.services import workflow_publish

TICKET = {"subject": "Refund", "body": "I was charged twice", "customer_tier": "pro"}


@pytest.fixture
def endpoint():
    server = FakeEndpoint()
    yield server
    server.close()


@pytest.fixture
def llm(db, endpoint, monkeypatch):
    monkeypatch.setenv("LLM_API_KEY", "sk-test")
    PromptTemplate.objects.create(
        name="triage",
        version=3,
        system="You sort support tickets.",
        user="Subject: {subject}\nBody: {body}\nAnswer as JSON with a 'label'.",
    )
    return ModelVersion.objects.create(
        name="llm-triage",
        version="1",
        adapter=ModelAdapterKind.OPENAI,
        labels=[],
        config={
            "base_url": f"{endpoint.url}/v1",
            "model": "small-model",
            "timeout_s": 0.5,
            "api_key_env": "LLM_API_KEY",
            "price_in_per_1k": 0.5,
            "price_out_per_1k": 1.5,
            "prompt": {"name": "triage", "version": 3},
        },
        card={"description": "A small chat model prompted to triage tickets."},
    )


def test_the_chat_adapter_sends_the_prompt_and_reads_confidence_and_cost(llm, endpoint):
    endpoint.default = (200, chat_answer('{"label": "billing"}', logprobs=[-0.01, -0.2, -0.05]))
    (result,) = OpenAICompatAdapter(llm).predict([ModelInput(input=TICKET, text="")])
    assert result.output == {"label": "billing"}
    assert result.confidence == pytest.approx(math.exp(-0.26), abs=1e-6)
    assert result.cost == pytest.approx((120 * 0.5 + 8 * 1.5) / 1000)
    assert result.tokens == {"prompt": 120, "completion": 8}
    (request,) = endpoint.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["body"]["model"] == "small-model"
    assert request["body"]["messages"][1]["content"].startswith("Subject: Refund\nBody: I was")


def test_without_logprobs_the_answer_counts_as_unsure(llm, endpoint):
    endpoint.default = (200, chat_answer('{"label": "billing"}'))
    (result,) = OpenAICompatAdapter(llm).predict([ModelInput(input=TICKET, text="")])
    assert result.confidence == 0.0


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((200, chat_answer("billing, I think")), "unusable answer"),
        ((200, chat_answer('["billing"]')), "not an object"),
        ((200, b"<html>gateway</html>"), "unusable answer"),
        ((503, {"error": "overloaded"}), "HTTP 503"),
    ],
)
def test_a_broken_answer_is_a_model_error(llm, endpoint, answer, message):
    endpoint.default = answer
    with pytest.raises(ModelError, match=message):
        OpenAICompatAdapter(llm).predict([ModelInput(input=TICKET, text="")])


def test_a_slow_endpoint_times_out(llm, endpoint):
    endpoint.hang = True
    with pytest.raises(ModelError, match="Timeout"):
        OpenAICompatAdapter(llm).predict([ModelInput(input=TICKET, text="")])


def test_prompts_take_input_fields_and_nothing_else():
    assert render_prompt("{subject} / {missing}", {"subject": "Hi"}) == "Hi / "
    assert render_prompt("{subject.__class__} {0}", {"subject": "Hi"}) == "{subject.__class__} {0}"
    assert render_prompt('Answer {"label": ...} for {subject}', {"subject": "Hi"}) == (
        'Answer {"label": ...} for Hi'
    )


def test_the_label_studio_backend_is_called_once_per_batch(db, endpoint):
    model = ModelVersion.objects.create(
        name="ls-triage",
        version="7",
        adapter=ModelAdapterKind.LABEL_STUDIO_ML,
        config={"base_url": endpoint.url, "label_config": "<View/>"},
    )

    def result(label, score):
        return {
            "result": [
                {
                    "from_name": "label",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [label]},
                    "score": score,
                }
            ],
            "score": score,
        }

    endpoint.default = (200, {"results": [result("billing", 0.91), result("shipping", 0.42)]})
    batch = [ModelInput(input=TICKET, text="a"), ModelInput(input=TICKET, text="b")]
    first, second = LabelStudioMLAdapter(model).predict(batch)
    assert (first.output, first.confidence) == ({"label": "billing"}, 0.91)
    assert second.field_confidence == {"label": 0.42}
    (request,) = endpoint.requests
    assert request["path"] == "/predict"
    assert [task["data"]["text"] for task in request["body"]["tasks"]] == ["a", "b"]

    endpoint.default = (200, {"results": [result("billing", 0.9)]})
    with pytest.raises(ModelError, match="1 of 2 tasks"):
        LabelStudioMLAdapter(model).predict(batch)


@pytest.fixture
def llm_workflow(demo, llm):
    definition = TICKET_TRIAGE.definition | {"model": {"name": "llm-triage", "version": "1"}}
    return workflow_publish(
        slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
    )


def _ingest(workflow, integrator, count=1):
    results = items_ingest(
        workflow=workflow,
        submissions=[Submission(input=TICKET | {"subject": f"Refund {i}"}) for i in range(count)],
        submitted_by=integrator,
    )
    return [item for item, _ in results]


def test_predictions_record_model_prompt_latency_and_cost(llm_workflow, integrator, endpoint):
    endpoint.default = (200, chat_answer('{"label": "billing"}', logprobs=[-0.01]))
    (item,) = _ingest(llm_workflow, integrator)
    run_pipeline([item.pk])
    item.refresh_from_db()
    prediction = item.prediction
    assert str(prediction.model_version) == "llm-triage@1"
    assert prediction.prompt_version == "triage v3"
    assert prediction.cost > 0 and prediction.latency_ms > 0
    run = StepRun.objects.get(item=item, step="infer")
    assert (run.model_version, run.prompt_version) == ("llm-triage@1", "triage v3")


def test_an_answer_outside_the_schema_is_a_recorded_failure_never_an_auto_accept(
    llm_workflow, integrator, endpoint
):
    endpoint.default = (200, chat_answer('{"label": "refund-request"}', logprobs=[-0.001]))
    (item,) = _ingest(llm_workflow, integrator)
    item_run_step(item_id=item.pk, step="validate")
    outcome = item_run_step(item_id=item.pk, step="infer")
    assert outcome.retry_in is not None
    item.refresh_from_db()
    assert item.status == "running" and item.current_step == "infer"
    run = StepRun.objects.get(item=item, step="infer")
    assert "does not match the output schema" in run.error


def test_the_breaker_opens_fails_fast_and_recovers_after_a_probe(
    llm_workflow, integrator, endpoint, settings
):
    settings.REVIEWAPP_BREAKER_FAILURES = 3
    endpoint.default = (500, {"error": "down"})
    items = _ingest(llm_workflow, integrator, count=5)
    for item in items:
        item_run_step(item_id=item.pk, step="validate")
    for item in items[:3]:
        item_run_step(item_id=item.pk, step="infer")
    breaker = CircuitBreaker.objects.get(key="llm-triage@1")
    assert breaker.state == BreakerState.OPEN
    assert len(endpoint.requests) == 3

    # Open: the fourth item fails fast, the endpoint is not called, no attempt is used up.
    outcome = item_run_step(item_id=items[3].pk, step="infer")
    assert outcome.retry_in == settings.REVIEWAPP_BREAKER_COOLDOWN_SECONDS
    assert len(endpoint.requests) == 3
    assert (
        "circuit for llm-triage@1 is open" in StepRun.objects.get(item=items[3], step="infer").error
    )
    assert Item.objects.get(pk=items[3].pk).step_failures == 0

    # After the cool-down one probe goes through; it succeeds and closes the circuit.
    endpoint.default = (200, chat_answer('{"label": "billing"}', logprobs=[-0.1]))
    later = timezone.now() + timedelta(seconds=settings.REVIEWAPP_BREAKER_COOLDOWN_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert item_run_step(item_id=items[3].pk, step="infer").next_step == "postprocess"
        breaker.refresh_from_db()
        assert (breaker.state, breaker.consecutive_failures) == (BreakerState.CLOSED, 0)
        assert item_run_step(item_id=items[4].pk, step="infer").next_step == "postprocess"
    assert len(endpoint.requests) == 5


def test_a_failed_probe_opens_the_circuit_again(llm_workflow, integrator, endpoint, settings):
    settings.REVIEWAPP_BREAKER_FAILURES = 1
    endpoint.default = (500, {"error": "down"})
    first, second = _ingest(llm_workflow, integrator, count=2)
    for item in (first, second):
        item_run_step(item_id=item.pk, step="validate")
    item_run_step(item_id=first.pk, step="infer")
    later = timezone.now() + timedelta(seconds=settings.REVIEWAPP_BREAKER_COOLDOWN_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        item_run_step(item_id=second.pk, step="infer")  # the probe, which fails
        breaker = CircuitBreaker.objects.get(key="llm-triage@1")
        assert breaker.state == BreakerState.OPEN
        assert breaker.opened_at == timezone.now()
    assert len(endpoint.requests) == 2


def test_the_pipeline_health_page_shows_open_circuits(
    llm_workflow, integrator, endpoint, settings, client, manager
):
    settings.REVIEWAPP_BREAKER_FAILURES = 1
    endpoint.default = (500, {"error": "down"})
    (item,) = _ingest(llm_workflow, integrator)
    item_run_step(item_id=item.pk, step="validate")
    item_run_step(item_id=item.pk, step="infer")
    client.force_login(manager)
    page = client.get("/dead-letters/")
    assert page.status_code == 200
    assert b'data-testid="breaker-state">Open (failing fast)<' in page.content
    assert b"HTTP 500" in page.content
