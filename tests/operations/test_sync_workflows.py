import shutil

import pytest
import yaml
from django.core.management import CommandError, call_command

from reviewapp.review.corrections.models import ReasonCode
from reviewapp.review.reviews.models import Queue
from workflows.demo.definition import DEMO_FILE
from workflows.models import Workflow, WorkflowVersion


@pytest.fixture
def definitions(tmp_path):
    shutil.copy(DEMO_FILE, tmp_path / "ticket-triage.yaml")
    return tmp_path


def _edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


def test_it_publishes_a_new_version_only_when_the_definition_changed(demo, definitions):
    workflow = Workflow.objects.get(slug="ticket-triage")
    assert workflow.current_version.number == 1

    call_command("sync_workflows", "--dir", str(definitions))
    assert WorkflowVersion.objects.filter(workflow=workflow).count() == 1

    path = definitions / "ticket-triage.yaml"
    _edit(path, lambda d: d["definition"]["routing"].update(threshold=0.9))
    call_command("sync_workflows", "--dir", str(definitions))
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2
    assert workflow.current_version.definition["routing"]["threshold"] == 0.9
    # Version 1 is untouched: items that ran with it still say what they ran with.
    assert (
        WorkflowVersion.objects.get(workflow=workflow, number=1).definition["routing"]["threshold"]
        == 0.8
    )


def test_it_retires_reason_codes_that_left_the_file(demo, definitions):
    path = definitions / "ticket-triage.yaml"
    _edit(path, lambda d: d.update(reason_codes=d["reason_codes"][:-1]))
    call_command("sync_workflows", "--dir", str(definitions))
    retired = ReasonCode.objects.get(code="not-enough-information")
    assert retired.active is False
    assert Queue.objects.filter(slug="ticket-triage").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["definition"]["routing"].update(threshold=1.5),
            "ticket-triage.yaml: definition.routing.threshold",
        ),
        (lambda d: d["definition"].pop("labels"), "ticket-triage.yaml: definition.labels"),
        (
            lambda d: d["definition"].update(text_fields=["subject", "nope"]),
            "ticket-triage.yaml: definition.text_fields.1: 'nope' is not an input field",
        ),
        (
            lambda d: d["definition"].update(queue="elsewhere"),
            "ticket-triage.yaml: definition.queue",
        ),
        (
            lambda d: d["definition"]["input_schema"].update(type="no-such-type"),
            "ticket-triage.yaml: definition.input_schema: not a valid JSON Schema",
        ),
        (
            lambda d: d["definition"]["model"].update(version="99"),
            "ticket-triage.yaml: definition.model: no registered model ticket-triage@99",
        ),
        (lambda d: d.update(surprise=True), "ticket-triage.yaml: surprise"),
        (
            lambda d: d["definition"]["routing"]["rules"][0]["when"]["all"][0].update(
                field="input.tier"
            ),
            "definition.routing.rules.0.when: 'input.tier' names no input field",
        ),
        (
            lambda d: d["definition"]["routing"]["rules"][0]["then"]["review"].update(queue="x"),
            "ticket-triage.yaml: definition.routing.rules.0.then.review.queue",
        ),
        (
            lambda d: d["definition"]["routing"]["rules"][0].update(then={"escalate": {}}),
            "ticket-triage.yaml: definition.routing.rules.0.then",
        ),
    ],
)
def test_it_refuses_an_invalid_definition_naming_file_and_field(
    demo, definitions, change, expected
):
    path = definitions / "ticket-triage.yaml"
    _edit(path, change)
    with pytest.raises(CommandError) as refused:
        call_command("sync_workflows", "--dir", str(definitions))
    assert expected in str(refused.value)
    assert WorkflowVersion.objects.count() == 1  # nothing published


def test_one_bad_file_publishes_none(demo, definitions):
    good = definitions / "ticket-triage.yaml"
    _edit(good, lambda d: d["definition"]["routing"].update(threshold=0.95))
    (definitions / "broken.yaml").write_text("slug: [unclosed\n")
    with pytest.raises(CommandError, match=r"broken\.yaml: not valid YAML"):
        call_command("sync_workflows", "--dir", str(definitions))
    assert Workflow.objects.get(slug="ticket-triage").current_version.number == 1
