import json
import logging

from reviewapp.core.logs import CorrelationFilter, JsonFormatter
from tests.conftest import run_pipeline
from workflows.models import Item


def test_the_correlation_id_travels_from_the_request_to_the_step_logs(
    demo, integrator, api, caplog
):
    response = api(integrator).post(
        f"/api/v1/workflows/{demo.workflow.slug}/items",
        {"input": {"subject": "Refund", "body": "charged twice"}},
        format="json",
        HTTP_X_CORRELATION_ID="order-4711",
    )
    assert response.status_code == 201
    assert response["X-Correlation-Id"] == "order-4711"
    item = Item.objects.get(pk=response.json()["id"])
    assert item.correlation_id == "order-4711"

    caplog.handler.addFilter(CorrelationFilter())
    with caplog.at_level(logging.INFO, logger="workflows.pipeline.engine"):
        run_pipeline([item.pk])
    step_logs = [r for r in caplog.records if r.name == "workflows.pipeline.engine"]
    assert [r.step for r in step_logs] == ["validate", "infer", "postprocess", "judge", "route"]
    assert {r.correlation_id for r in step_logs} == {"order-4711"}


def test_requests_without_an_id_get_one(client):
    response = client.get("/accounts/login/")
    assert len(response["X-Correlation-Id"]) == 32


def test_json_logs_are_one_object_per_line_with_the_item_fields():
    record = logging.LogRecord(
        "workflows.pipeline.engine", logging.INFO, __file__, 1, "step %s done", ("infer",), None
    )
    record.correlation_id = "abc"
    record.item_id = 7
    record.step = "infer"
    line = JsonFormatter().format(record)
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "workflows.pipeline.engine",
        "message": "step infer done",
        "correlation_id": "abc",
        "trace_id": "",
        "span_id": "",
        "item_id": 7,
        "step": "infer",
    }
