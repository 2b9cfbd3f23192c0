"""Badges: normal states are grey, amber warns, red is kept for trouble."""

import pytest
from django.template import Context, Template

from reviewapp.core.badges import badge_tone
from reviewapp.learn.datasets.models import ExportStatus
from reviewapp.review.reviews.models import TaskStatus
from workflows.models import (
    BreakerState,
    CanaryStatus,
    DeliveryStatus,
    ItemOutcome,
    ItemStatus,
    TrainingRunStatus,
)

NORMAL = [
    *TaskStatus.values,
    ItemStatus.RECEIVED,
    ItemStatus.RUNNING,
    ItemStatus.AWAITING_REVIEW,
    ItemStatus.COMPLETED,
    *ItemOutcome.values,  # a person rejecting a model's output is the review working
    ExportStatus.REQUESTED,
    ExportStatus.APPROVED,
    ExportStatus.REJECTED,
    ExportStatus.BUILDING,
    ExportStatus.READY,
    ExportStatus.EXPIRED,
    DeliveryStatus.PENDING,
    DeliveryStatus.DELIVERED,
    TrainingRunStatus.QUEUED,
    TrainingRunStatus.RUNNING,
    TrainingRunStatus.SUCCEEDED,
    CanaryStatus.RUNNING,
    CanaryStatus.PROMOTED,
    "ok",
    "alive",
]
TROUBLE = [
    "breached",
    ItemStatus.DEAD_LETTERED,
    ExportStatus.FAILED,
    TrainingRunStatus.FAILED,
    DeliveryStatus.GAVE_UP,
    "fail",
    "silent",
    "late",
]


@pytest.mark.parametrize("state", NORMAL)
def test_normal_states_are_neutral(state):
    assert badge_tone(state) == "neutral"


@pytest.mark.parametrize("state", TROUBLE)
def test_only_trouble_is_red(state):
    assert badge_tone(state) == "trouble"


def test_at_risk_warns_in_either_spelling():
    assert badge_tone("at_risk") == badge_tone("at-risk") == "warning"


def test_an_open_task_is_normal_work_but_an_open_breaker_is_trouble():
    assert badge_tone(TaskStatus.OPEN) == "neutral"
    assert badge_tone(BreakerState.OPEN, "breaker") == "trouble"
    assert badge_tone(BreakerState.HALF_OPEN, "breaker") == "warning"
    assert badge_tone(BreakerState.CLOSED, "breaker") == "neutral"


def test_templates_get_the_class_from_the_badge_filter():
    html = Template(
        '<span class="{{ task|badge }}"></span><span class="{{ breaker|badge:\'breaker\' }}">'
    ).render(Context({"task": TaskStatus.OPEN, "breaker": BreakerState.OPEN}))
    assert html == ('<span class="badge badge-neutral"></span><span class="badge badge-trouble">')
