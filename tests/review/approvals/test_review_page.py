"""A reviewer decides an approval on the ordinary review page: approve (accept), approve with
edited arguments (correct, with reasons) or deny (reject)."""

import json
import re

from django.test import Client

from reviewapp.review.approvals.selectors import approval_summary
from reviewapp.review.approvals.services import ApprovalAsk, approval_request
from reviewapp.review.reviews.models import ReviewTask
from reviewapp.review.reviews.schema_form import PREFIX
from workflows.pipeline.engine import item_resume_after_review

ARGUMENTS = {"order": "A-17", "amount": 500}


def approval_for(workflow):
    approval, _ = approval_request(
        workflow=workflow,
        ask=ApprovalAsk(
            tool="refund", arguments=ARGUMENTS, risk_level="medium", requested_by="billing-agent"
        ),
    )
    return approval


def claim_page(client, queue):
    response = client.post(f"/queues/{queue.pk}/next")
    assert response.status_code == 302, response.content
    match = re.fullmatch(r"/review/(\d+)/", response["Location"])
    assert match, response["Location"]
    return ReviewTask.objects.get(pk=match[1])


def test_the_review_page_shows_the_proposed_action_and_edits_its_arguments(agent_actions, reviewer):
    approval = approval_for(agent_actions)
    client = Client()
    client.force_login(reviewer)
    queue = ReviewTask.objects.get(item_id=approval.pk).queue
    task = claim_page(client, queue)

    page = client.get(f"/review/{task.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "refund" in html
    assert "billing-agent" in html

    edited = {"order": "A-17", "amount": 50}
    response = client.post(
        f"/review/{task.pk}/decide",
        {
            "claim_token": str(task.claim_token),
            "outcome": "correct",
            PREFIX + "arguments": json.dumps(edited),
            "reason_codes": ["unsafe-arguments/amount-too-high"],
        },
    )
    assert response.status_code in (200, 302), response.content.decode()[:2000]
    item_resume_after_review(item_id=approval.pk)

    body = approval_summary(approval)
    assert body["status"] == "approved"
    assert body["approved_arguments"] == edited
    assert body["edited"] is True
