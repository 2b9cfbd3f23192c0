"""Fixtures for dataset specs and releases: corrections to export, and a third ML engineer."""

import pytest
from django.contrib.auth import get_user_model

from reviewapp.core.accounts.models import Role
from reviewapp.core.accounts.services import membership_add
from reviewapp.learn.datasets.models import DatasetExport, ExportStatus
from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.review.corrections.models import Correction
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from workflows.demo.tickets import LABELS
from workflows.services import workflow_publish


@pytest.fixture
def media_root(tmp_path):
    """Per test here: releases live at fixed paths (datasets/<workflow>/v1/), and every test
    starts again from release v1 on a fresh database."""
    return tmp_path / "media"


REASONS = ("wrong-category", "ambiguous-text", "wrong-category", "mixed-topics")


@pytest.fixture
def corrected(routed_items, demo, reviewer):
    """Up to four corrections by alice (reasons as in REASONS), oldest first."""
    routed = routed_items(count=40, seed=5)
    assert len(routed) >= len(REASONS), "the demo data must send enough tickets to review"
    for reason in REASONS:
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        model_label = task.item.prediction.output["label"]
        review_task_decide(
            task=task,
            reviewer=reviewer,
            claim_token=task.claim_token,
            outcome="correct",
            output={"label": next(label for label in LABELS if label != model_label)},
            reason_codes=[reason],
        )
    return list(Correction.objects.order_by("created_at", "id"))


@pytest.fixture
def second_approver(demo):
    """Nora, a second ML engineer of the support team: the other half of four-eyes approval."""
    nora = get_user_model().objects.create_user(username="nora")
    membership_add(team=demo.team, user=nora, role=Role.ML_ENGINEER)
    return nora


@pytest.fixture
def mark_sensitive(demo):
    """Publish a new ticket-triage version with sensitive input fields and/or the sensitive flag."""

    def mark(*, fields: dict[str, str] | None = None, sensitive: bool = False):
        definition = dict(demo.workflow.current_version.definition)
        schema = dict(definition["input_schema"])
        schema["properties"] = {
            name: (spec | {"x-sensitive": fields[name]}) if name in (fields or {}) else spec
            for name, spec in schema["properties"].items()
        }
        definition["input_schema"] = schema
        if sensitive:
            definition["sensitive"] = True
        workflow_publish(
            slug=demo.workflow.slug, name=demo.workflow.name, team=demo.team, definition=definition
        )
        demo.workflow.refresh_from_db()
        return demo.workflow

    return mark


@pytest.fixture
def release(demo, requester, approver):
    """Request, approve and build an export of every correction; returns the built export."""

    def make(
        *,
        export_format="jsonl",
        filters=None,
        note="",
        include_sensitive=False,
        allow_sensitive=False,
    ) -> DatasetExport:
        export = dataset_export_request(
            workflow=demo.workflow,
            requested_by=requester,
            export_format=export_format,
            filters=filters or {},
            note=note,
            include_sensitive=include_sensitive,
        )
        dataset_export_approve(export=export, approver=approver, allow_sensitive=allow_sensitive)
        built = dataset_export_build(export_id=export.pk)
        assert built is not None and built.status == ExportStatus.READY
        return built

    return make
