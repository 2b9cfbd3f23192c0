"""Pulling annotations made in Label Studio back as corrections.

The SDK's own client talks to a fake project over an httpx mock transport that serves back the
tasks the push imported, as Label Studio Community lists them; the last test uses a real server.
"""

import copy
import json
import os
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine

from reviewapp.core.audit.models import AuditEvent
from reviewapp.learn.datasets.label_studio import dataset_release_push_label_studio
from reviewapp.learn.datasets.label_studio_pull import (
    STALE_PULL,
    LabelStudioPullConflict,
    LabelStudioPullFailed,
    annotator_pseudonym,
    dataset_release_pull_label_studio,
    dataset_release_pull_label_studio_start,
)
from reviewapp.learn.datasets.readers import READERS
from reviewapp.learn.datasets.services import release_file_open
from reviewapp.learn.datasets.specs import spec_matching
from reviewapp.learn.datasets.tasks import pull_label_studio
from reviewapp.review.corrections.models import Correction
from tests.support.files import export_path
from workflows.demo.tickets import LABELS

BASE_URL = "http://label-studio.test"
PROJECT_URL = f"{BASE_URL}/projects/42/"
ANNOTATOR = 7  # Label Studio's id of the person who annotates there


class FakeLabelStudio:
    """Label Studio Community for one project (42): takes the push, then lists its tasks.

    ``tasks`` holds what the push imported, with the ids Label Studio gives; tests edit them
    the way annotators would before a pull.
    """

    def __init__(self, page_size: int = 2):
        self.tasks: list[dict] = []
        self.requests: list[httpx.Request] = []
        self.page_size = page_size
        self.failure: httpx.Response | Exception | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "POST" and path == "/api/projects/":
            return httpx.Response(201, json={"id": 42, "title": "t"})
        if request.method == "POST" and path == "/api/projects/42/import":
            for task in json.loads(request.content):
                number = len(self.tasks) + 1
                for annotation in task["annotations"]:
                    # Imported annotations belong to the importing user (the push's token).
                    annotation |= {"id": 100 + number, "completed_by": 1, "was_cancelled": False}
                self.tasks.append(task | {"id": number, "project": 42})
            return httpx.Response(201, json={"task_count": len(self.tasks)})
        if request.method == "GET" and path == "/api/tasks/":
            if isinstance(self.failure, Exception):
                raise self.failure
            if self.failure is not None:
                return self.failure
            assert request.url.params["project"] == "42"
            assert request.url.params["fields"] == "all"
            page = int(request.url.params.get("page", "1"))
            start = (page - 1) * self.page_size
            shown = self.tasks[start : start + self.page_size]
            return httpx.Response(200, json={"tasks": shown, "total": len(self.tasks)})
        return httpx.Response(404, json={"detail": "Not found"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def annotate(self, task: dict, label: str, **extra) -> dict:
        """An annotator's own annotation of ``task`` choosing ``label``."""
        annotation = {
            "id": 900 + len(task["annotations"]) + 10 * task["id"],
            "completed_by": ANNOTATOR,
            "was_cancelled": False,
            "created_at": "2026-11-20T10:00:00.000000Z",
            "result": [
                {
                    "from_name": "label",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ],
        } | extra
        task["annotations"].append(annotation)
        return annotation


@pytest.fixture
def fake():
    return FakeLabelStudio()


@pytest.fixture
def pushed(release, corrected, approver, fake):
    """Release v1 of the corrections, pushed to project 42 of the fake Label Studio."""
    export = release()
    dataset_release_push_label_studio(
        export=export,
        acting_user=approver,
        base_url=BASE_URL,
        api_key="k",
        httpx_client=fake.client(),
    )
    export.refresh_from_db()
    return export


def pull(export, user, fake):
    """Queue a pull (as the endpoint does) and run it (as the worker does)."""
    dataset_release_pull_label_studio_start(export=export, acting_user=user)
    return dataset_release_pull_label_studio(
        export_id=export.pk,
        acting_user=user,
        base_url=BASE_URL,
        api_key="k",
        httpx_client=fake.client(),
    )


def other_label(label: str) -> str:
    return next(option for option in LABELS if option != label)


def test_the_push_records_the_project_on_the_release(pushed):
    assert pushed.label_studio_project_id == 42
    assert pushed.label_studio_url == PROJECT_URL


def test_a_changed_annotation_becomes_one_correction(pushed, corrected, approver, fake):
    task = fake.tasks[1]
    reviewed = corrected[1]
    assert task["data"]["item_id"] == reviewed.item_id
    new_label = next(
        label
        for label in LABELS
        if label not in (reviewed.human_output["label"], reviewed.model_output["label"])
    )
    fake.annotate(task, new_label)

    result = pull(pushed, approver, fake)

    assert result is not None
    assert result["recorded"] == 1
    assert result["unchanged"] == len(corrected)  # the annotations we pushed ourselves
    assert result["tasks"] == len(corrected)
    pulled = Correction.objects.get(source="label_studio")
    assert pulled.decision is None
    assert pulled.external_id == f"ls:42:{task['annotations'][-1]['id']}"
    assert pulled.item_id == reviewed.item_id
    assert pulled.input == reviewed.input  # the item's own input, not the release's redaction
    assert pulled.model_output == reviewed.model_output
    assert pulled.human_output == {"label": new_label}
    assert pulled.diff == {"label": {"before": reviewed.model_output["label"], "after": new_label}}
    assert pulled.model_version == reviewed.model_version
    assert pulled.reviewer_pseudonym == annotator_pseudonym(
        project_url=PROJECT_URL, user_id=ANNOTATOR
    )
    assert pulled.reviewer_pseudonym != reviewed.reviewer_pseudonym
    assert pulled.created_at.isoformat() == "2026-11-20T10:00:00+00:00"
    assert pulled.reason_codes == [] and pulled.comment == ""
    pushed.refresh_from_db()
    assert pushed.label_studio_pull_status == "done"
    assert pushed.label_studio_pull_result == result
    event = AuditEvent.objects.get(action="export.pulled_from_label_studio")
    assert event.actor == approver and event.data["recorded"] == 1


def test_unchanged_annotations_add_nothing(pushed, corrected, approver, fake):
    # A second annotator agrees with our reviewer: nothing new to learn.
    fake.annotate(fake.tasks[0], corrected[0].human_output["label"])

    result = pull(pushed, approver, fake)

    assert result is not None
    assert result["recorded"] == 0 and result["unchanged"] == len(corrected) + 1
    assert not Correction.objects.filter(source="label_studio").exists()
    assert AuditEvent.objects.filter(action="export.pulled_from_label_studio").count() == 1


def test_an_annotation_edited_in_place_is_pulled_as_its_editor(pushed, corrected, approver, fake):
    annotation = fake.tasks[0]["annotations"][0]
    annotation["result"][0]["value"]["choices"] = [other_label(corrected[0].human_output["label"])]
    annotation["updated_by"] = ANNOTATOR

    pull(pushed, approver, fake)

    pulled = Correction.objects.get(source="label_studio")
    assert pulled.external_id == f"ls:42:{annotation['id']}"
    assert pulled.reviewer_pseudonym == annotator_pseudonym(
        project_url=PROJECT_URL, user_id=ANNOTATOR
    )


def test_pulling_twice_adds_nothing(pushed, corrected, approver, fake):
    fake.annotate(fake.tasks[0], other_label(corrected[0].human_output["label"]))
    first = pull(pushed, approver, fake)

    second = pull(pushed, approver, fake)

    assert first is not None and second is not None
    assert first["recorded"] == 1
    assert second["recorded"] == 0 and second["already_pulled"] == 1
    assert Correction.objects.filter(source="label_studio").count() == 1


def test_tasks_that_are_not_ours_are_ignored(pushed, corrected, approver, fake, routed_items, demo):
    foreign = copy.deepcopy(fake.tasks[0]) | {"id": 50}
    del foreign["data"]["item_id"]  # a task someone added in Label Studio
    fake.annotate(foreign, other_label(corrected[0].human_output["label"]))
    # An item of ours that is not in this release (data is editable there), and a text id.
    unreleased = (
        demo.workflow.items.exclude(pk__in=[c.item_id for c in corrected]).order_by("pk").first()
    )
    assert unreleased is not None
    stranger = copy.deepcopy(fake.tasks[1]) | {"id": 51}
    stranger["data"]["item_id"] = unreleased.pk
    fake.annotate(stranger, other_label(corrected[1].human_output["label"]))
    texty = copy.deepcopy(fake.tasks[2]) | {"id": 52}
    texty["data"]["item_id"] = str(corrected[2].item_id)
    fake.annotate(texty, other_label(corrected[2].human_output["label"]))
    fake.tasks += [foreign, stranger, texty]

    result = pull(pushed, approver, fake)

    assert result is not None
    assert result["not_ours"] == 6  # three tasks: the copied annotation and the new one each
    assert result["recorded"] == 0
    assert not Correction.objects.filter(source="label_studio").exists()


def test_cancelled_empty_and_foreign_label_annotations_are_skipped(
    pushed, corrected, approver, fake
):
    label = other_label(corrected[0].human_output["label"])
    fake.annotate(fake.tasks[0], label, was_cancelled=True)
    fake.annotate(fake.tasks[0], label, result=[])
    fake.annotate(fake.tasks[1], "not-a-label-of-ours")

    result = pull(pushed, approver, fake)

    assert result is not None
    assert result["cancelled_or_empty"] == 2 and result["invalid"] == 1
    assert result["recorded"] == 0
    assert not Correction.objects.filter(source="label_studio").exists()


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("Connection refused"),
        httpx.Response(401, json={"detail": "Invalid token."}),
    ],
    ids=["unreachable", "refused"],
)
def test_a_failed_read_is_a_clear_error_with_nothing_written(
    pushed, corrected, approver, fake, api, failure
):
    fake.annotate(fake.tasks[0], other_label(corrected[0].human_output["label"]))
    fake.failure = failure
    before = Correction.objects.count()

    with pytest.raises(LabelStudioPullFailed, match="Label Studio could not be read"):
        pull(pushed, approver, fake)

    assert Correction.objects.count() == before
    assert not AuditEvent.objects.filter(action="export.pulled_from_label_studio").exists()
    response = api(approver).get(f"/api/v1/exports/{pushed.pk}/label-studio/pull")
    assert response.status_code == 502
    assert response.json()["status"] == "failed"
    assert response.json()["detail"].startswith("Label Studio could not be read")


def test_a_redelivered_pull_does_nothing(pushed, corrected, approver, fake):
    fake.annotate(fake.tasks[0], other_label(corrected[0].human_output["label"]))
    assert pull(pushed, approver, fake) is not None

    again = dataset_release_pull_label_studio(
        export_id=pushed.pk,
        acting_user=approver,
        base_url=BASE_URL,
        api_key="k",
        httpx_client=fake.client(),
    )

    assert again is None
    assert Correction.objects.filter(source="label_studio").count() == 1


def test_a_release_never_pushed_cannot_be_pulled(release, corrected, approver):
    export = release()

    with pytest.raises(LabelStudioPullConflict, match="Push this release"):
        dataset_release_pull_label_studio_start(export=export, acting_user=approver)


def test_pulled_corrections_join_the_next_release_but_not_decision_filters(
    pushed, corrected, approver, fake, release, demo
):
    reviewed = corrected[0]
    label = other_label(reviewed.human_output["label"])
    fake.annotate(fake.tasks[0], label, created_at="2030-01-01T00:00:00Z")
    pull(pushed, approver, fake)
    pulled = Correction.objects.get(source="label_studio")

    # No decision: filters on the queue or the decision type simply do not match it.
    assert pulled not in spec_matching(
        workflow=demo.workflow, filters={"queues": [demo.queue.slug]}
    )
    assert pulled not in spec_matching(workflow=demo.workflow, filters={"decision": "correct"})
    assert pulled in spec_matching(workflow=demo.workflow, filters={})
    v2 = release()
    with release_file_open(v2) as handle:
        rows = {row["item_id"]: row for row in READERS[v2.format](handle)}
    # The newest correction of an input wins, and its reviewer is the annotator's pseudonym.
    assert rows[reviewed.item_id]["human_output"] == {"label": label}
    assert rows[reviewed.item_id]["reviewer"] == pulled.reviewer_pseudonym


def test_the_api_queues_a_pull_and_reports_it(
    pushed, approver, api, broker, django_capture_on_commit_callbacks, settings
):
    settings.LABEL_STUDIO_URL = BASE_URL

    with django_capture_on_commit_callbacks(execute=True):
        response = api(approver).post(f"/api/v1/exports/{pushed.pk}/label-studio/pull")

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response.json()["project_url"] == PROJECT_URL
    assert broker() == [("datasets.pull_label_studio", [pushed.pk, approver.pk])]
    again = api(approver).post(f"/api/v1/exports/{pushed.pk}/label-studio/pull")
    assert again.status_code == 409
    assert "under way" in again.json()["detail"]
    status = api(approver).get(f"/api/v1/exports/{pushed.pk}/label-studio/pull")
    assert status.status_code == 200 and status.json()["status"] == "pending"


def test_the_api_hides_the_pull_from_outsiders_and_reviewers(
    pushed, outsider, reviewer, api, settings
):
    settings.LABEL_STUDIO_URL = BASE_URL

    # Oscar is an ML engineer of another team; alice reviews but may not push releases.
    for user in (outsider, reviewer):
        assert api(user).post(f"/api/v1/exports/{pushed.pk}/label-studio/pull").status_code == 404
        assert api(user).get(f"/api/v1/exports/{pushed.pk}/label-studio/pull").status_code == 404
    pushed.refresh_from_db()
    assert pushed.label_studio_pull_status == ""


def test_the_api_refuses_a_pull_when_no_server_is_configured(pushed, approver, api, settings):
    settings.LABEL_STUDIO_URL = ""

    response = api(approver).post(f"/api/v1/exports/{pushed.pk}/label-studio/pull")

    assert response.status_code == 502
    assert "LABEL_STUDIO_URL" in response.json()["detail"]


def test_it_pulls_from_a_real_label_studio(release, corrected, approver, settings):
    if not os.environ.get("LABEL_STUDIO_URL"):
        pytest.fail('LABEL_STUDIO_URL is not set: run `make test`, or eval "$(.ci/label-studio)"')
    settings.LABEL_STUDIO_URL = os.environ["LABEL_STUDIO_URL"]
    settings.LABEL_STUDIO_API_KEY = os.environ.get("LABEL_STUDIO_API_KEY", "")
    export = release()
    pushed = dataset_release_push_label_studio(
        export=export,
        acting_user=approver,
        base_url=settings.LABEL_STUDIO_URL,
        api_key=settings.LABEL_STUDIO_API_KEY,
    )
    from label_studio_sdk import LabelStudio

    client = LabelStudio(base_url=settings.LABEL_STUDIO_URL, api_key=settings.LABEL_STUDIO_API_KEY)
    task = next(
        t
        for t in client.tasks.list(project=pushed["project_id"])
        if t.data["item_id"] == corrected[0].item_id
    )
    label = next(
        option
        for option in LABELS
        if option not in (corrected[0].human_output["label"], corrected[0].model_output["label"])
    )
    created = client.annotations.create(
        id=task.id,
        result=[
            {
                "from_name": "label",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [label]},
            }
        ],
    )
    export.refresh_from_db()
    dataset_release_pull_label_studio_start(export=export, acting_user=approver)

    result = pull_label_studio(export.pk, approver.pk)  # the task, as the worker runs it

    assert result is not None and result["recorded"] == 1
    assert result["unchanged"] == len(corrected)
    pulled = Correction.objects.get(source="label_studio")
    assert pulled.external_id == f"ls:{pushed['project_id']}:{created.id}"
    assert pulled.item_id == corrected[0].item_id
    assert pulled.human_output == {"label": label}
    assert pulled.diff == {"label": {"before": corrected[0].model_output["label"], "after": label}}
    assert pulled.decision is None


def test_the_page_offers_the_pull_and_queues_it(
    pushed, approver, client, broker, django_capture_on_commit_callbacks, settings
):
    settings.LABEL_STUDIO_URL = BASE_URL
    client.force_login(approver)
    page = client.get("/datasets/").content.decode()
    assert f'action="/datasets/{pushed.pk}/label-studio/pull"' in page
    assert PROJECT_URL in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/datasets/{pushed.pk}/label-studio/pull", follow=True)

    assert response.status_code == 200
    assert "Pulling the annotations of release v1" in response.content.decode()
    assert 'data-testid="label-studio-pull-status">Pull queued' in response.content.decode()
    assert broker() == [("datasets.pull_label_studio", [pushed.pk, approver.pk])]


def test_the_page_explains_why_an_unpushed_release_cannot_be_pulled(
    release, corrected, approver, client, settings
):
    settings.LABEL_STUDIO_URL = BASE_URL
    export = release()
    client.force_login(approver)
    assert (
        f"/datasets/{export.pk}/label-studio/pull" not in client.get("/datasets/").content.decode()
    )

    response = client.post(f"/datasets/{export.pk}/label-studio/pull", follow=True)

    assert "Push this release to Label Studio first" in response.content.decode()
    export.refresh_from_db()
    assert export.label_studio_pull_status == ""


def test_the_page_hides_the_pull_from_outsiders(pushed, outsider, client, settings):
    settings.LABEL_STUDIO_URL = BASE_URL
    client.force_login(outsider)

    response = client.post(f"/datasets/{pushed.pk}/label-studio/pull")

    assert response.status_code == 404
    pushed.refresh_from_db()
    assert pushed.label_studio_pull_status == ""


def test_the_page_pushes_a_release_to_a_real_label_studio(
    release, corrected, approver, client, settings
):
    if not os.environ.get("LABEL_STUDIO_URL"):
        pytest.fail('LABEL_STUDIO_URL is not set: run `make test`, or eval "$(.ci/label-studio)"')
    settings.LABEL_STUDIO_URL = os.environ["LABEL_STUDIO_URL"]
    settings.LABEL_STUDIO_API_KEY = os.environ.get("LABEL_STUDIO_API_KEY", "")
    export = release()
    client.force_login(approver)

    response = client.post(f"/datasets/{export.pk}/label-studio/push", follow=True)

    assert (
        f"Release v1 pushed to Label Studio: {len(corrected)} tasks." in response.content.decode()
    )
    export.refresh_from_db()
    assert export.label_studio_project_id is not None
    assert f'action="/datasets/{export.pk}/label-studio/pull"' in response.content.decode()


def test_the_page_reports_an_unreachable_label_studio(
    release, corrected, approver, client, settings
):
    settings.LABEL_STUDIO_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    export = release()
    client.force_login(approver)

    response = client.post(f"/datasets/{export.pk}/label-studio/push", follow=True)

    assert "Label Studio refused the push" in response.content.decode()
    export.refresh_from_db()
    assert export.label_studio_project_id is None


def test_an_unexpected_failure_marks_the_pull_failed(pushed, approver, fake, api):
    export_path(pushed).unlink()  # the release file is gone from the media volume

    with pytest.raises(FileNotFoundError):
        pull(pushed, approver, fake)

    response = api(approver).get(f"/api/v1/exports/{pushed.pk}/label-studio/pull")
    assert response.status_code == 502
    assert response.json()["detail"] == "The pull failed."
    assert not Correction.objects.filter(source="label_studio").exists()


def test_a_pull_that_died_with_its_worker_can_be_started_again(pushed, approver):
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        dataset_release_pull_label_studio_start(export=pushed, acting_user=approver)
    with (
        time_machine.travel(start + STALE_PULL - timedelta(seconds=1), tick=False),
        pytest.raises(LabelStudioPullConflict, match="under way"),
    ):
        dataset_release_pull_label_studio_start(export=pushed, acting_user=approver)

    with time_machine.travel(start + STALE_PULL + timedelta(seconds=1), tick=False):
        again = dataset_release_pull_label_studio_start(export=pushed, acting_user=approver)

    assert again.label_studio_pull_status == "pending"
    assert again.label_studio_pull_started_at == start + STALE_PULL + timedelta(seconds=1)
