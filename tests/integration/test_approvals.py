"""An agent waits on the long poll (through the real web stack, ``live_server``) while a
reviewer decides and a real Celery worker settles the approval; then the same with the worker
killed in the middle of settling a burst of decisions."""

import os
import signal
import threading
import time
from collections import Counter

import pytest

from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.approvals.client import ApprovalClient
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Queue
from tests.support.tokens import token_for
from workflows.act import announce
from workflows.models import Item, ItemStatus
from workflows.pipeline.tasks import resume_stuck_items

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def agent(live_server, user) -> ApprovalClient:
    return ApprovalClient(live_server.url, token=token_for(user))


def ask(client: ApprovalClient, n: int = 0, risk: str = "low") -> dict:
    return client.request(
        workflow="agent-actions",
        tool="send_email",
        arguments={"to": f"customer-{n}@example.com", "template": "apology"},
        risk_level=risk,
        requested_by="support-agent",
        idempotency_key=f"run-7/email-{n}",
    )


class Waiter(threading.Thread):
    """An agent blocked on the long poll; ``answer`` is what it got and ``at`` when."""

    def __init__(self, client: ApprovalClient, approval_id: int, timeout: float):
        super().__init__(daemon=True)
        self.client, self.approval_id, self.timeout = client, approval_id, timeout
        self.answer: dict | None = None
        self.at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.answer = self.client.wait(self.approval_id, timeout=self.timeout)
            self.at = time.monotonic()
        except BaseException as exc:  # reported by the test
            self.error = exc


def decide_next(queue, reviewer, outcome: str):
    task = review_task_claim(queue=queue, reviewer=reviewer)
    assert task is not None
    review_task_decide(
        task=task,
        reviewer=reviewer,
        claim_token=task.claim_token,
        outcome=outcome,
        reason_codes=["not-allowed"] if outcome == "reject" else [],
    )
    return task.item_id


def test_the_long_poll_returns_as_soon_as_a_reviewer_decides(
    live_server, worker, agent_actions, integrator, reviewer, wait_until
):
    client = agent(live_server, integrator)
    approval = ask(client)
    waiter = Waiter(client, approval["id"], timeout=40.0)
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive(), f"the long poll answered before anyone decided: {waiter.answer}"

    decided_at = time.monotonic()
    decide_next(Queue.objects.get(slug="agent-actions"), reviewer, "accept")
    waiter.join(timeout=45.0)

    assert waiter.error is None, waiter.error
    assert waiter.answer is not None and waiter.answer["status"] == "approved", waiter.answer
    assert waiter.answer["approved_arguments"] == approval["arguments"]
    # Long before the poll's own timeout: the decision woke it up.
    assert waiter.at - decided_at < 20.0


def test_a_worker_killed_while_settling_decisions_loses_and_doubles_none(
    live_server,
    private_redis,
    private_worker,
    agent_actions,
    integrator,
    reviewer,
    wait_until,
    settings,
):
    """Twenty agents wait; a reviewer decides all twenty; the worker is killed with kill -9
    half-way through, while resume messages are queued and running. Restarted (as its
    supervisor would) and helped by the reconciler, it settles every approval exactly once and
    every agent gets the decision that was made."""
    settings.REVIEWAPP_PUBSUB_URL = private_redis.url()
    announce._redis.cache_clear()
    worker = private_worker
    client = agent(live_server, integrator)
    approvals = [ask(client, n) for n in range(20)]
    waiters = [Waiter(client, a["id"], timeout=120.0) for a in approvals]
    for waiter in waiters:
        waiter.start()
    queue = Queue.objects.get(slug="agent-actions")

    expected = {}
    for index in range(20):
        outcome = "accept" if index % 2 == 0 else "reject"
        item_id = decide_next(queue, reviewer, outcome)
        expected[item_id] = "approved" if outcome == "accept" else "denied"
        if index == 9:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=15)
    worker.restart()

    def all_settled() -> bool:
        if Item.objects.filter(pk__in=expected, status=ItemStatus.COMPLETED).count() == 20:
            return True
        resume_stuck_items()  # what beat would run: finds settled reviews never resumed
        return False

    wait_until(all_settled, timeout=120.0, what=lambda: "approvals are still pending")
    for waiter in waiters:
        waiter.join(timeout=60.0)

    assert [w.error for w in waiters if w.error] == []
    answers = {w.approval_id: w.answer["status"] for w in waiters if w.answer}
    assert answers == expected
    completed = Counter(
        AuditEvent.objects.filter(
            action="item.completed", object_id__in=[str(pk) for pk in expected]
        ).values_list("object_id", flat=True)
    )
    assert set(completed.values()) == {1}, completed
    announce._redis.cache_clear()
