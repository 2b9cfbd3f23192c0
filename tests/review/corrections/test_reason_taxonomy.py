"""The reason taxonomy: hierarchical, defined in the workflow file, versioned with the workflow;
retired reasons are no longer offered but old decisions keep (and resolve) what they chose.
Also the other review-side rule of the workflow file: span fields mark text of an input field."""

import shutil

import pytest
import yaml
from django.core.management import CommandError, call_command

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.corrections.models import ReasonCode
from reviewapp.review.corrections.selectors import reason_choices
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import DecisionInvalid, review_task_decide
from reviewapp.review.reviews.models import Decision
from workflows.demo.definition import DEMO_FILE
from workflows.demo.tickets import LABELS
from workflows.models import Workflow, WorkflowVersion


@pytest.fixture
def definitions(tmp_path):
    shutil.copy(DEMO_FILE, tmp_path / "ticket-triage.yaml")
    return tmp_path


def edit(directory, change):
    path = directory / "ticket-triage.yaml"
    data = yaml.safe_load(path.read_text())
    change(data["reason_codes"])
    path.write_text(yaml.safe_dump(data))


def sync(directory):
    call_command("sync_workflows", "--dir", str(directory))


def entry(reasons, code):
    return next(reason for reason in reasons if reason["code"] == code)


def correct(task, reviewer, *codes):
    model_label = task.item.prediction.output["label"]
    return review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome="correct",
        output={"label": next(label for label in LABELS if label != model_label)},
        reason_codes=list(codes),
    )


def test_child_reasons_are_stored_under_their_parent_with_their_path_as_code(demo):
    near_miss = ReasonCode.objects.get(code="wrong-category/near-miss", active=True)
    assert near_miss.parent.code == "wrong-category"
    assert near_miss.label == "Close call between two categories"
    assert near_miss.introduced_in == demo.workflow.current_version


def test_the_picker_offers_live_reasons_per_outcome_with_their_parents(demo):
    choices = reason_choices(workflow=demo.workflow)

    assert [(c.code, c.path_labels) for c in choices["correct"]] == [
        ("wrong-category", ("Model picked the wrong category",)),
        (
            "wrong-category/outdated-routing",
            ("Model picked the wrong category", "Category rules changed since training"),
        ),
        (
            "wrong-category/near-miss",
            ("Model picked the wrong category", "Close call between two categories"),
        ),
        ("ambiguous-text", ("Text is ambiguous",)),
        ("mixed-topics", ("Ticket covers several topics",)),
    ]
    reject = {c.code: c for c in choices["reject"]}
    assert set(reject) == {
        "mixed-topics",
        "ambiguous-text",
        "spam",
        "spam/phishing",
        "not-enough-information",
    }
    assert reject["spam/phishing"].parent_labels == ("Spam or not a support ticket",)
    assert reject["spam/phishing"].depth == 1


def test_a_decision_with_a_child_reason_records_its_path(demo, routed_items, reviewer):
    routed_items(count=10, seed=5)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    decision = correct(task, reviewer, "wrong-category/near-miss")

    assert decision.correction.reason_codes == ["wrong-category/near-miss"]
    assert [code.parent.code for code in decision.reason_codes.all()] == ["wrong-category"]


def test_the_api_takes_a_reason_path(api, demo, routed_items, reviewer):
    routed_items(count=10, seed=5)
    claimed = api(reviewer).post(f"/api/v1/queues/{demo.queue.pk}/claim").json()

    response = api(reviewer).post(
        f"/api/v1/tasks/{claimed['id']}/decision",
        {
            "claim_token": claimed["claim_token"],
            "outcome": "reject",
            "reason_codes": ["spam/phishing"],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    assert Decision.objects.get().correction.reason_codes == ["spam/phishing"]


def test_an_unchanged_taxonomy_publishes_nothing(demo, definitions):
    rows = ReasonCode.objects.count()
    sync(definitions)
    assert WorkflowVersion.objects.filter(workflow=demo.workflow).count() == 1
    assert ReasonCode.objects.count() == rows


def test_a_taxonomy_change_publishes_a_new_version_and_old_decisions_keep_their_reason(
    demo, definitions, routed_items, reviewer
):
    routed_items(count=10, seed=5)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    old_decision = correct(task, reviewer, "wrong-category/near-miss")
    old_reason = ReasonCode.objects.get(code="wrong-category/near-miss", active=True)

    # Relabel a reason and retire another.
    def change(reasons):
        entry(reasons, "near-miss")["label"] = "Two categories fit almost equally"
        reasons.remove(entry(reasons, "outdated-routing"))

    edit(definitions, change)
    sync(definitions)

    workflow = Workflow.objects.get(pk=demo.workflow.pk)
    assert workflow.current_version.number == 2
    assert [r["code"] for r in workflow.current_version.definition["reason_codes"]].count(
        "wrong-category/near-miss"
    ) == 1
    old_reason.refresh_from_db()
    assert (old_reason.active, old_reason.retired_in) == (False, workflow.current_version)
    new_reason = ReasonCode.objects.get(code="wrong-category/near-miss", active=True)
    assert new_reason.label == "Two categories fit almost equally"
    assert new_reason.introduced_in == workflow.current_version
    # The old decision still resolves to what the reviewer chose then.
    assert [code.label for code in old_decision.reason_codes.all()] == [
        "Close call between two categories"
    ]
    assert old_decision.correction.reason_codes == ["wrong-category/near-miss"]
    offered = {c.code: c.label for c in reason_choices(workflow=workflow)["correct"]}
    assert offered["wrong-category/near-miss"] == "Two categories fit almost equally"
    assert "wrong-category/outdated-routing" not in offered
    retired = ReasonCode.objects.get(code="wrong-category/outdated-routing")
    assert (retired.active, retired.retired_in) == (False, workflow.current_version)
    event = AuditEvent.objects.filter(action="reason_codes.changed").order_by("occurred_at").last()
    assert event.data == {
        "version": 2,
        "added": ["wrong-category/near-miss"],
        "retired": ["wrong-category/near-miss", "wrong-category/outdated-routing"],
    }


def test_a_retired_reason_is_refused_for_new_decisions(demo, definitions, routed_items, reviewer):
    edit(definitions, lambda reasons: reasons.remove(entry(reasons, "phishing")))
    sync(definitions)
    routed_items(count=10, seed=5)
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)

    with pytest.raises(DecisionInvalid) as refused:
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="reject",
            reason_codes=["spam/phishing"],
        )

    assert "spam/phishing" in refused.value.errors["reason_codes"][0]
    assert not Decision.objects.exists()


def test_moving_a_reason_under_another_parent_gives_it_a_new_path(demo, definitions):
    edit(definitions, lambda reasons: entry(reasons, "near-miss").update(parent="ambiguous-text"))
    sync(definitions)

    moved = ReasonCode.objects.get(code="ambiguous-text/near-miss", active=True)
    assert moved.parent.code == "ambiguous-text"
    assert not ReasonCode.objects.get(code="wrong-category/near-miss").active


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda reasons: entry(reasons, "near-miss").update(parent="no-such-reason"),
            "ticket-triage.yaml: reason_codes.1.parent: 'no-such-reason' is not a reason code",
        ),
        (
            lambda reasons: entry(reasons, "wrong-category").update(parent="near-miss"),
            "ticket-triage.yaml: reason_codes.0.parent: 'wrong-category' is its own ancestor",
        ),
        (
            lambda reasons: entry(reasons, "spam").update(parent="spam"),
            "ticket-triage.yaml: reason_codes.5.parent: 'spam' is its own ancestor",
        ),
        (
            lambda reasons: reasons.append(
                {"code": "spam", "label": "Again", "applies_to": "reject"}
            ),
            "ticket-triage.yaml: reason_codes.8.code: 'spam' is already defined by reason_codes.5",
        ),
        (
            lambda reasons: entry(reasons, "phishing").update(parent="Spam!"),
            "ticket-triage.yaml: reason_codes.6.parent",
        ),
    ],
    ids=["unknown parent", "cycle", "own parent", "duplicate code", "parent not a code"],
)
def test_an_invalid_taxonomy_is_refused_naming_file_and_field(demo, definitions, change, expected):
    edit(definitions, change)

    with pytest.raises(CommandError) as refused:
        sync(definitions)

    assert expected in str(refused.value)
    assert WorkflowVersion.objects.filter(workflow=demo.workflow).count() == 1


def test_a_span_field_over_a_missing_input_field_is_refused(demo, definitions):
    path = definitions / "ticket-triage.yaml"
    data = yaml.safe_load(path.read_text())
    data["definition"]["output_schema"]["properties"]["spans"] = {
        "type": "array",
        "x-span-of": "nope",
        "items": {"type": "object"},
    }
    path.write_text(yaml.safe_dump(data))

    with pytest.raises(CommandError) as refused:
        sync(definitions)

    assert (
        "ticket-triage.yaml: definition.output_schema.properties.spans.x-span-of: "
        "'nope' is not a text input field"
    ) in str(refused.value)
