"""A Model Context Protocol server with one tool, ``request_approval``: an MCP-speaking agent
asks a person before a side-effecting action and gets the decision back.

    REVIEWAPP_URL=https://reviews.example.com REVIEWAPP_TOKEN=... \\
    REVIEWAPP_APPROVAL_WORKFLOW=agent-actions python -m reviewapp.review.approvals.mcp_server

It speaks MCP over stdio (how agent hosts start local tools) and the approvals API over HTTP,
through ``client.ApprovalClient``; it needs the ``mcp`` extra (``pip install reviewapp[mcp]``)
but not Django.
"""

import os
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

from reviewapp.review.approvals.client import ApprovalClient, ApprovalError

server = MCPServer(
    "reviewapp-approvals",
    instructions=(
        "Call request_approval before any action with side effects (payments, deletions, "
        "messages to customers). Act only when it returns status 'approved', and then with "
        "its approved_arguments, which a reviewer may have edited."
    ),
)


def _client() -> ApprovalClient:
    return ApprovalClient(os.environ["REVIEWAPP_URL"], token=os.environ["REVIEWAPP_TOKEN"])


@server.tool()
async def request_approval(
    tool: str,
    arguments: dict[str, Any],
    risk_level: str = "medium",
    context: str = "",
    requested_by: str = "mcp-agent",
    idempotency_key: str = "",
    wait_seconds: float = 300.0,
) -> dict[str, Any]:
    """Ask a person to approve an action and wait for the decision.

    Returns the approval: ``status`` is ``approved`` (act with ``approved_arguments``),
    ``denied`` (do not act), or ``pending`` when ``wait_seconds`` passed first (ask again with
    the same ``idempotency_key`` to keep waiting for the same request). ``risk_level`` is one
    of low, medium, high, critical; high and critical may need two reviewers.
    """
    client = _client()
    ask = {
        "workflow": os.environ.get("REVIEWAPP_APPROVAL_WORKFLOW", "agent-actions"),
        "tool": tool,
        "arguments": arguments,
        "risk_level": risk_level,
        "requested_by": requested_by,
        "context": context or None,
        "idempotency_key": idempotency_key or None,
    }
    try:
        return await anyio.to_thread.run_sync(
            lambda: client.request_and_wait(timeout=wait_seconds, **ask)
        )
    except ApprovalError as refused:
        # The agent reads why (a field error, an unknown workflow) instead of a crash.
        return {"status": "refused", "http_status": refused.status, "error": refused.body}


if __name__ == "__main__":
    server.run()
