"""An agent process waits on the approvals long poll while a reviewer approves its action in a
real browser; a real Celery worker settles the decision and the agent gets it."""

import json
import re
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect

from reviewapp.review.reviews.models import Queue

# The integration suite's real worker (a subprocess on the test database and broker).
from tests.integration.conftest import celery_worker, worker  # noqa: F401
from tests.support.tokens import token_for

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# The agent: another process, asking and then waiting through the client, printing the answer.
AGENT = """
import json, sys
from reviewapp.review.approvals.client import ApprovalClient
client = ApprovalClient(sys.argv[1], token=sys.argv[2])
answer = client.request_and_wait(
    workflow="agent-actions", tool="close_account", arguments={"account": "ACME-9"},
    risk_level="medium", requested_by="cleanup-agent", idempotency_key="run-1/close",
    context="The customer asked to close the account by email.", timeout=60,
)
print(json.dumps(answer), flush=True)
"""


def test_an_agent_waits_while_a_reviewer_approves_in_the_browser(
    sign_in,
    live_server,
    worker,  # noqa: F811 (the fixture imported above)
    agent_actions,
    integrator,
):
    key = token_for(integrator)
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT, live_server.url, key],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        queue = Queue.objects.get(slug="agent-actions")
        page = sign_in("alice")
        review_next = page.locator(f'form[action="/queues/{queue.pk}/next"] button')
        give_up = time.monotonic() + 30
        while not queue.tasks.exists():  # waits for the agent's request, not for time to pass
            assert time.monotonic() < give_up and agent.poll() is None, agent.stderr
            time.sleep(0.1)
        page.reload()
        review_next.click()
        page.wait_for_url(re.compile(r"/review/\d+/$"))
        expect(page.locator("body")).to_contain_text("close_account")
        expect(page.locator("body")).to_contain_text("ACME-9")
        assert agent.poll() is None, "the agent stopped waiting before anyone decided"

        page.get_by_role("button", name="Submit and next").click()
        out, err = agent.communicate(timeout=60)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()

    assert agent.returncode == 0, err
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["status"] == "approved"
    assert answer["approved_arguments"] == {"account": "ACME-9"}
    assert answer["decided_by"] == "reviewer"
