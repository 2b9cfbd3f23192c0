"""The task every reviewer request starts from: read with its relations and the permission on
its queue in one statement, letting through exactly whom django-guardian's backend would."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from guardian.shortcuts import assign_perm

from reviewapp.core.permissions import MANAGE_QUEUE, REVIEW_QUEUE
from reviewapp.review.reviews.access import REVIEW_PAGE_RELATED, get_task_for_user
from reviewapp.review.reviews.models import ReviewTask

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("prepared_statements")]


def test_the_task_comes_in_one_query_to_whom_guardian_lets_through(
    demo, other_team, routed_items, django_assert_num_queries
):
    """``get_task_for_user`` reads the task, its relations and the permission on its queue in
    one statement: the same people get it as guardian's backend lets through; the others a
    404, whether the task exists or not."""
    routed_items(count=12, seed=5)
    ours = ReviewTask.objects.filter(queue=demo.queue).first()
    theirs = ReviewTask.objects.create(item=ours.item, queue=other_team["queue"])
    direct = get_user_model().objects.create_user(username="dora")
    assign_perm(REVIEW_QUEUE, direct, other_team["queue"])
    inactive = get_user_model().objects.create_user(username="ivy")
    inactive.is_active = False
    inactive.save()
    boss = get_user_model().objects.create_superuser(username="root", password=None)
    people = [*get_user_model().objects.exclude(pk=inactive.pk), inactive, AnonymousUser()]
    answers = set()
    for person in people:
        for task in (ours, theirs):
            for perm in (REVIEW_QUEUE, MANAGE_QUEUE):
                allowed = person.is_active and person.has_perm(perm, task.queue)
                with django_assert_num_queries(1):
                    try:
                        found = get_task_for_user(person, task.pk, perm)
                    except Http404:
                        found = None
                assert (found is not None) == allowed, (person, task.queue, perm)
                answers.add(allowed)
    assert answers == {True, False}
    assert get_task_for_user(direct, theirs.pk) == theirs
    assert get_task_for_user(boss, theirs.pk, MANAGE_QUEUE) == theirs

    # What the review page renders comes with it: reading it runs no more queries.
    with django_assert_num_queries(1):
        task = get_task_for_user(ours.claimed_by or boss, ours.pk, related=REVIEW_PAGE_RELATED)
        assert task.queue.workflow.slug and task.item.prediction.output
        assert task.item.workflow_version.definition and task.item.workflow.slug
    for missing in (theirs.pk + 1000, 2**63, -1, "x"):
        with pytest.raises(Http404):
            get_task_for_user(boss, missing)
