"""The demo's history: past work through the real services, so every page has something to show.

Installed as ``load_demo`` installs it, on the demo (PostgreSQL here; the quick start's SQLite
runs it in tests/operations/test_quickstart.py).
"""

import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.training.selectors import candidate_models
from reviewapp.operations.demo_history import DEAD_LETTER_KEY, demo_history_install
from reviewapp.review.corrections.models import Correction
from reviewapp.review.quality.models import FourEyesReview, FourEyesStatus, GoldItem, GoldTask
from reviewapp.review.reviews.models import Decision, ReviewTask, TaskStatus
from tests.conftest import PASSWORD
from workflows.models import (
    Item,
    ItemStatus,
    ModelVersion,
    StepRun,
    TrainingRun,
    TrainingRunStatus,
    WorkflowVersion,
)


@pytest.fixture
def media_root(tmp_path):
    """Per test: the retrained model's file is named after its run, which each test numbers anew."""
    return tmp_path / "media"


@pytest.fixture
def history(demo):
    return demo_history_install(demo)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _counts() -> dict[str, int]:
    return {
        "items": Item.objects.count(),
        "tasks": ReviewTask.objects.count(),
        "decisions": Decision.objects.count(),
        "corrections": Correction.objects.count(),
        "gold items": GoldItem.objects.count(),
        "gold tasks": GoldTask.objects.count(),
        "four-eyes": FourEyesReview.objects.count(),
        "releases": DatasetExport.objects.count(),
        "training runs": TrainingRun.objects.count(),
        "models": ModelVersion.objects.count(),
        "workflow versions": WorkflowVersion.objects.count(),
        # A start issues the API client a new token (printed once): that event only.
        "audit events": AuditEvent.objects.exclude(action="api_token.created").count(),
    }


def test_the_history_has_reviews_gold_four_eyes_a_dead_letter_and_a_retrained_model(history, demo):
    decided = Counter(Decision.objects.values_list("reviewer__username", "outcome"))
    # Both reviewers accepted, corrected and rejected.
    assert {reviewer for reviewer, _ in decided} == {"alice", "bob"}
    assert {outcome for _, outcome in decided} == {"accept", "correct", "reject"}
    assert all(decided[("alice", outcome)] for outcome in ("accept", "correct"))
    assert all(decided[("bob", outcome)] for outcome in ("accept", "correct"))
    corrections = Correction.objects.filter(decision__outcome="correct")
    assert corrections.count() >= 10
    assert all(correction.reason_codes for correction in corrections)
    assert {"mixed-topics", "wrong-category/near-miss"} <= {
        code for correction in corrections for code in correction.reason_codes
    }

    rejected = Correction.objects.filter(decision__outcome="reject")
    assert sorted(c.reason_codes for c in rejected) == [["spam"], ["spam"], ["spam/phishing"]]

    scored = GoldTask.objects.filter(scored_at__isnull=False)
    assert GoldItem.objects.filter(queue=demo.queue).count() == 4
    assert scored.filter(correct=True).exists() and scored.filter(correct=False).exists()

    agreed = FourEyesReview.objects.filter(status=FourEyesStatus.AGREED)
    disagreed = FourEyesReview.objects.get(status=FourEyesStatus.DISAGREED)
    assert agreed.count() == 2
    pair = {disagreed.first_task.decision.reviewer.username}
    pair.add(disagreed.second_task.decision.reviewer.username)
    assert pair == {"alice", "bob"}
    assert disagreed.first_task.decision.output != disagreed.second_task.decision.output
    assert disagreed.senior_task.status == TaskStatus.OPEN  # waiting for a third reviewer

    dead = Item.objects.get(idempotency_key=DEAD_LETTER_KEY)
    assert dead.status == ItemStatus.DEAD_LETTERED
    assert dead.dead_letter_reason.startswith("infer failed after 3 attempt(s)")
    assert "no model ticket-triage@2 is registered" in dead.dead_letter_reason
    assert StepRun.objects.filter(item=dead, step="infer", status="failed").count() == 3
    # The workflow serves with the right definition again, the broken version stays recorded.
    demo.workflow.refresh_from_db()
    assert demo.workflow.current_version.definition["model"] == {
        "name": "ticket-triage",
        "version": "1",
    }
    assert list(demo.workflow.versions.values_list("number", flat=True).order_by("number")) == [
        1,
        2,
        3,
    ]

    release = history.release
    assert release.status == ExportStatus.READY
    assert release.requested_by.username == "mel" and release.decided_by.username == "ines"
    split = release.manifest["counts"]["by_split"]
    assert split["train"] and split["validation"] + split["test"] >= 5
    run = history.training_run
    assert run.status == TrainingRunStatus.SUCCEEDED, run.error
    assert run.metrics["held_out_size"] >= 5
    assert run.candidate in candidate_models(demo.workflow)
    assert audit_verify().broken is None


def test_a_second_install_adds_nothing(history, demo, routed_items):
    routed_items(count=40, seed=11)  # live work in the queue, which nobody scripted claims
    assert ReviewTask.objects.filter(status=TaskStatus.OPEN, item__correlation_id="demo-11")
    call_command("load_demo", items=0, password=PASSWORD)  # the rest of a first `make run`
    before = _counts()
    call_command("load_demo", items=0, password=PASSWORD)  # what a second one does
    assert _counts() == before
    again = demo_history_install(demo)
    assert (again.release, again.training_run, again.dead_letter) == (
        history.release,
        history.training_run,
        history.dead_letter,
    )
    assert _counts() == before


def test_the_pages_show_the_history(history, demo, reviewer, second_reviewer, manager, requester):
    bob_work = browser(second_reviewer).get("/my-work/").content.decode()
    assert re.search(r'data-testid="gold-accuracy">\d+% <small>\(\d+ of \d+\)', bob_work)

    quality = browser(manager).get(f"/board/queues/{demo.queue.pk}/quality/")
    assert quality.status_code == 200
    page = quality.content.decode()
    assert re.search(r'data-reviewer="bob">.*?data-testid="gold-accuracy">\d+%', page, re.S)
    assert 'data-testid="hotspots"' in page  # the pair that disagreed, with its item
    disputed = FourEyesReview.objects.get(status=FourEyesStatus.DISAGREED).item_id
    assert f'href="/items/{disputed}/"' in page

    dead_letters = browser(manager).get("/dead-letters/").content.decode()
    dead = Item.objects.get(idempotency_key=DEAD_LETTER_KEY)
    assert "no model ticket-triage@2 is registered" in dead_letters
    assert f"/dead-letters/{dead.pk}/retry" in dead_letters

    datasets = browser(requester).get("/datasets/").content.decode()
    assert f'href="/datasets/releases/{history.release.pk}/">Release v1<' in datasets
    release_page = browser(requester).get(f"/datasets/releases/{history.release.pk}/")
    assert release_page.status_code == 200
    # One approval, two formats, each downloadable under its own name.
    for name in ("ticket-triage-v1-verified.jsonl", "ticket-triage-v1-verified.csv"):
        assert f'download="{name}"' in release_page.content.decode()
    assert f'href="/workflows/{demo.workflow.slug}/canary#retraining"' in datasets

    canary = browser(requester).get(f"/workflows/{demo.workflow.slug}/canary")
    assert canary.status_code == 200
    page = canary.content.decode()
    candidate = history.training_run.candidate
    assert f'<option value="{candidate.pk}">{candidate}</option>' in page
    run_row = page.split(f'data-testid="training-run-{history.training_run.pk}"')[1]
    assert "Succeeded" in run_row.split("</tr>")[0]
