"""The MCP server's ``request_approval`` tool, driven by the official SDK's own client over
stdio (the way an agent host starts it), against the real API (``live_server``)."""

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import pytest
from django.db import connection
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from reviewapp.review.approvals.models import Approval
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import Queue
from tests.support.tokens import token_for
from workflows.pipeline.engine import item_resume_after_review

pytestmark = pytest.mark.django_db(transaction=True)

PROJECT_DIR = Path(__file__).resolve().parents[3]


def server_parameters(live_server, user) -> StdioServerParameters:
    key = token_for(user)
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "reviewapp.review.approvals.mcp_server"],
        env={
            "REVIEWAPP_URL": live_server.url,
            "REVIEWAPP_TOKEN": key,
            "REVIEWAPP_APPROVAL_WORKFLOW": "agent-actions",
        },
        cwd=str(PROJECT_DIR),
    )


def call(parameters, name: str, arguments: dict) -> tuple[list[str], dict]:
    """(tool names, the tool's structured answer), through a fresh stdio session."""

    async def session_run():
        async with (
            stdio_client(parameters) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = await session.list_tools()
            result = await session.call_tool(name, arguments, read_timeout_seconds=60)
            assert not result.is_error, result.content
            answer = result.structured_content
            if answer is None:  # unstructured: the JSON text of the answer
                answer = json.loads(result.content[0].text)
            return [tool.name for tool in tools.tools], answer

    # In a thread of its own: the browser tests' Playwright may hold an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, session_run).result()


class Reviewer(threading.Thread):
    """A reviewer who decides the approval as soon as it arrives, then the worker's resume."""

    def __init__(self, user, outcome: str, **extra):
        super().__init__(daemon=True)
        self.user, self.outcome, self.extra = user, outcome, extra
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            give_up = time.monotonic() + 30
            while not Approval.objects.exists():
                assert time.monotonic() < give_up, "the tool never asked"
                time.sleep(0.05)  # waits for the MCP server's request, not for time to pass
            task = review_task_claim(
                queue=Queue.objects.get(slug="agent-actions"), reviewer=self.user
            )
            assert task is not None
            review_task_decide(
                task=task,
                reviewer=self.user,
                claim_token=task.claim_token,
                outcome=self.outcome,
                **self.extra,
            )
            item_resume_after_review(item_id=task.item_id)
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()


def test_the_tool_asks_and_returns_the_reviewers_edited_arguments(
    live_server, agent_actions, integrator, reviewer
):
    person = Reviewer(
        reviewer,
        "correct",
        output={"arguments": {"order": "A-17", "amount": 50}},
        reason_codes=["unsafe-arguments/amount-too-high"],
    )
    person.start()

    tools, answer = call(
        server_parameters(live_server, integrator),
        "request_approval",
        {
            "tool": "refund",
            "arguments": {"order": "A-17", "amount": 500},
            "risk_level": "medium",
            "context": "The customer asks for a refund of a lost parcel.",
            "requested_by": "billing-agent",
            "idempotency_key": "run-3/refund",
            "wait_seconds": 45,
        },
    )
    person.join(timeout=10)

    assert person.error is None, person.error
    assert tools == ["request_approval"]
    assert answer["status"] == "approved"
    assert answer["edited"] is True
    assert answer["approved_arguments"] == {"order": "A-17", "amount": 50}
    assert answer["reason_codes"] == ["unsafe-arguments/amount-too-high"]


def test_the_tool_reports_a_refused_request_instead_of_failing(
    live_server, agent_actions, integrator
):
    _, answer = call(
        server_parameters(live_server, integrator),
        "request_approval",
        {"tool": "refund", "arguments": {"amount": 5}, "risk_level": "extreme"},
    )

    assert answer["status"] == "refused"
    assert answer["http_status"] == 400
    assert "risk_level" in answer["error"]["errors"]
    assert not Approval.objects.exists()
