"""Pushing a release to Label Studio through the SDK's own client over a mock transport."""

import json
import os
import xml.etree.ElementTree as ET

import httpx
import pytest

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.datasets.label_studio import (
    LabelStudioPushFailed,
    dataset_release_push_label_studio,
    label_config,
)
from reviewapp.learn.datasets.specs import REDACTED
from workflows.demo.tickets import LABELS

BASE_URL = "http://label-studio.test"


class FakeLabelStudio:
    """Answers like Label Studio Community and records every request it receives."""

    def __init__(self, fail_import: bool = False):
        self.requests: list[httpx.Request] = []
        self.fail_import = fail_import

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST" and request.url.path == "/api/projects/":
            return httpx.Response(
                201, json={"id": 42, "title": json.loads(request.content)["title"]}
            )
        if request.method == "POST" and request.url.path == "/api/projects/42/import":
            if self.fail_import:
                return httpx.Response(400, json={"detail": "bad tasks"})
            tasks = json.loads(request.content)
            return httpx.Response(
                201, json={"task_count": len(tasks), "task_ids": list(range(1, len(tasks) + 1))}
            )
        return httpx.Response(404)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def test_the_label_config_offers_the_label_enum_bound_to_the_text(demo):
    definition = demo.workflow.current_version.definition
    config = ET.fromstring(label_config(definition))  # noqa: S314 (our own XML)

    text = config.find("Text")
    choices = config.find("Choices")
    assert text is not None and choices is not None
    assert text.get("value") == f"${text.get('name')}"
    assert choices.get("name") == "label"
    assert choices.get("toName") == text.get("name")
    assert [c.get("value") for c in choices.findall("Choice")] == list(LABELS)


@pytest.mark.parametrize("export_format", ["jsonl", "parquet", "csv", "label_studio"])
def test_it_creates_a_project_and_imports_the_release_tasks(
    release, corrected, approver, mark_sensitive, export_format
):
    mark_sensitive(fields={"subject": "redact"})
    export = release(export_format=export_format)
    fake = FakeLabelStudio()

    result = dataset_release_push_label_studio(
        export=export,
        acting_user=approver,
        base_url=BASE_URL,
        api_key="secret-token",
        httpx_client=fake.client(),
    )

    create, imported = fake.requests
    assert all(r.headers["Authorization"] == "Token secret-token" for r in fake.requests)
    project = json.loads(create.content)
    assert project["title"].endswith("v1")
    assert project["label_config"] == label_config(demo_definition(export))
    assert imported.url.params["return_task_ids"] == "true"
    tasks = json.loads(imported.content)
    assert [t["data"]["item_id"] for t in tasks] == [c.item_id for c in corrected]
    for task, correction in zip(tasks, corrected, strict=True):
        assert task["data"]["subject"] == REDACTED  # the release as approved, not the raw data
        assert task["data"]["text"] == f"{REDACTED}\n\n{correction.input['body']}"
        (prediction,) = task["predictions"]
        (annotation,) = task["annotations"]
        assert prediction["result"][0]["value"]["choices"] == [correction.model_output["label"]]
        assert annotation["result"][0]["value"]["choices"] == [correction.human_output["label"]]
        assert annotation["result"][0]["to_name"] == "text"
        assert "completed_by" not in annotation
        assert task["meta"]["reviewer"] == correction.reviewer_pseudonym
    assert result == {
        "project_id": 42,
        "project_url": f"{BASE_URL}/projects/42/",
        "tasks": len(corrected),
        "base_url": BASE_URL,
    }
    export.refresh_from_db()
    assert export.label_studio_project_id == 42  # where a pull reads the annotations back
    event = AuditEvent.objects.get(action="export.pushed_to_label_studio")
    assert event.actor == approver and event.data["project_id"] == 42


def demo_definition(export):
    return export.workflow.current_version.definition


def test_a_refused_import_is_reported_and_not_audited(release, corrected, approver):
    export = release()

    with pytest.raises(LabelStudioPushFailed, match="bad tasks"):
        dataset_release_push_label_studio(
            export=export,
            acting_user=approver,
            base_url=BASE_URL,
            api_key="k",
            httpx_client=FakeLabelStudio(fail_import=True).client(),
        )
    assert not AuditEvent.objects.filter(action="export.pushed_to_label_studio").exists()


def test_the_api_refuses_when_no_server_is_configured(api, approver, release, corrected, settings):
    settings.LABEL_STUDIO_URL = ""
    export = release()

    response = api(approver).post(f"/api/v1/exports/{export.pk}/label-studio")

    assert response.status_code == 502
    assert "LABEL_STUDIO_URL" in response.json()["detail"]


def test_it_pushes_to_a_real_label_studio(release, corrected, approver):
    # `make test` starts a real server (.ci/label-studio) and sets these; like PostgreSQL and
    # Redis, a missing server fails the run instead of quietly skipping what matters.
    if not os.environ.get("LABEL_STUDIO_URL"):
        pytest.fail('LABEL_STUDIO_URL is not set: run `make test`, or eval "$(.ci/label-studio)"')
    export = release()

    result = dataset_release_push_label_studio(
        export=export,
        acting_user=approver,
        base_url=os.environ["LABEL_STUDIO_URL"],
        api_key=os.environ.get("LABEL_STUDIO_API_KEY", ""),
    )

    assert result["tasks"] == len(corrected)
    # Read the project back from the server: every task arrived with the model's prediction
    # and the reviewer's annotation.
    from label_studio_sdk import LabelStudio

    client = LabelStudio(
        base_url=os.environ["LABEL_STUDIO_URL"], api_key=os.environ.get("LABEL_STUDIO_API_KEY", "")
    )
    stored = list(client.tasks.list(project=result["project_id"]))
    assert len(stored) == len(corrected)
    assert all(task.total_predictions == 1 and task.total_annotations == 1 for task in stored)
