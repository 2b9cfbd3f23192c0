"""Both four-eyes reviewers deciding at the same moment, on PostgreSQL, with real threads.

Each thread has its own connection, so the FourEyesReview row lock is exercised as between two
web processes: exactly one of the two decisions compares the pair and resumes the item.
"""

import threading

import pytest
from django.db import connection

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.audit.services import audit_verify
from reviewapp.review.quality.models import FourEyesReview, FourEyesStatus
from reviewapp.review.reviews.models import ReviewTask
from tests.review.quality.conftest import claim, correct_reason, decide, other_label
from workflows.models import Item, ItemStatus
from workflows.pipeline.engine import item_resume_after_review

JOIN_TIMEOUT = 60  # seconds; a deadlock fails instead of hanging

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("second_output", ["same", "different"])
def test_simultaneous_answers_are_compared_exactly_once(
    four_eyes_items, demo, reviewer, second_reviewer, broker, second_output
):
    items = four_eyes_items(count=1)
    broker()  # the pipeline's own messages are not under test
    (item,) = items
    held = {
        reviewer: claim(demo.queue, reviewer),
        second_reviewer: claim(demo.queue, second_reviewer),
    }
    label = item.prediction.output["label"]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def answer(person, task):
        try:
            start.wait(timeout=JOIN_TIMEOUT)
            if person == second_reviewer and second_output == "different":
                decide(
                    task,
                    person,
                    outcome="correct",
                    output={"label": other_label(label)},
                    reason_codes=[correct_reason(demo.workflow)],
                )
            else:
                decide(task, person)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=answer, args=pair) for pair in held.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a decision hung (deadlock?)"
    assert errors == []

    review = FourEyesReview.objects.get(item=item)
    resumes = [args for name, args in broker() if name == "workflows.resume_after_review"]
    if second_output == "same":
        assert review.status == FourEyesStatus.AGREED
        assert resumes == [[item.pk]]
        assert AuditEvent.objects.filter(action="four_eyes.agreed").count() == 1
        assert item_resume_after_review(item_id=item.pk)
        assert Item.objects.get(pk=item.pk).status == ItemStatus.COMPLETED
    else:
        assert review.status == FourEyesStatus.DISAGREED
        assert resumes == []
        assert AuditEvent.objects.filter(action="four_eyes.disagreed").count() == 1
        assert ReviewTask.objects.filter(item=item).count() == 3
        assert not item_resume_after_review(item_id=item.pk)
    report = audit_verify()
    assert report.broken is None, report.broken
