"""``user_can`` answers exactly as django-guardian's backend does, for every person and object."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from guardian.shortcuts import assign_perm

from reviewapp.core.permissions import (
    APPROVE_EXPORT,
    MANAGE_QUEUE,
    OPERATE_WORKFLOW,
    RELEASE_MODELS,
    REQUEST_EXPORT,
    REVIEW_QUEUE,
    SUBMIT_ITEMS,
    VIEW_WORKFLOW,
    user_can,
)

pytestmark = pytest.mark.django_db

WORKFLOW_PERMS = (VIEW_WORKFLOW, SUBMIT_ITEMS, REQUEST_EXPORT, APPROVE_EXPORT, RELEASE_MODELS,
                  OPERATE_WORKFLOW)  # fmt: skip
QUEUE_PERMS = (REVIEW_QUEUE, MANAGE_QUEUE)


def test_every_role_gets_the_same_answer_as_guardian(demo, other_team):
    people = list(get_user_model().objects.all())
    # Someone granted one permission on one object directly, not through a team role.
    direct = get_user_model().objects.create_user(username="dora")
    assign_perm(REVIEW_QUEUE, direct, other_team["queue"])
    inactive = get_user_model().objects.get(username="alice")
    inactive.is_active = False
    inactive.save()
    boss = get_user_model().objects.create_superuser(username="root", password=None)
    people += [direct, inactive, boss]
    checked = granted = 0
    for person in people:
        for workflow in (demo.workflow, other_team["workflow"]):
            for perm in WORKFLOW_PERMS:
                assert user_can(person, perm, workflow) == person.has_perm(perm, workflow)
                granted += user_can(person, perm, workflow)
                checked += 1
        for queue in (demo.queue, other_team["queue"]):
            for perm in QUEUE_PERMS:
                assert user_can(person, perm, queue) == person.has_perm(perm, queue)
                granted += user_can(person, perm, queue)
                checked += 1
    # Both answers occur, so the comparison means something.
    assert 0 < granted < checked
    assert user_can(direct, REVIEW_QUEUE, other_team["queue"])
    assert not user_can(direct, REVIEW_QUEUE, demo.queue)
    assert not user_can(inactive, REVIEW_QUEUE, demo.queue)
    assert user_can(boss, MANAGE_QUEUE, other_team["queue"])


def test_nobody_signed_out_and_no_permission_of_another_app(demo, reviewer):
    assert not user_can(AnonymousUser(), REVIEW_QUEUE, demo.queue)
    # A queue permission asked of a workflow is no permission at all.
    assert not user_can(reviewer, REVIEW_QUEUE, demo.workflow)
