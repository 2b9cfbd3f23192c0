"""A small client for agents: ask for an approval, wait for the decision. Standard library only.

    client = ApprovalClient("https://reviews.example.com", token="...")
    decision = client.request_and_wait(
        workflow="agent-actions", tool="refund", arguments={"order": "A-17", "amount": 120},
        risk_level="high", requested_by="billing-agent", idempotency_key="run-42/refund-1",
    )
    if decision["status"] == "approved":
        refund(**decision["approved_arguments"])   # what the reviewer approved, maybe edited

Reuse the idempotency key when you retry: the same request finds the same approval, so an agent
that crashed and starts again waits for the decision it already asked for.
"""

import json
import time
import urllib.error
import urllib.request
from typing import Any

# Each long poll asks the server to wait this long (its maximum is 60 s by default).
POLL_SECONDS = 25.0


class ApprovalError(Exception):
    """The server refused the request; ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: Any):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class ApprovalClient:
    def __init__(self, base_url: str, *, token: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict:
        request = urllib.request.Request(  # noqa: S310 (the base URL is the caller's, http(s))
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Token {self.token}",
                "Accept": "application/json",
                **({"Content-Type": "application/json"} if body is not None else {}),
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                detail: Any = json.loads(raw)
            except ValueError:
                detail = raw.decode(errors="replace")
            raise ApprovalError(error.code, detail) from None

    def request(
        self,
        *,
        workflow: str,
        tool: str,
        arguments: dict,
        risk_level: str,
        requested_by: str,
        context: Any = None,
        deadline_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict:
        """Ask; returns the approval (``status`` is ``pending`` until someone decides)."""
        body: dict[str, Any] = {
            "workflow": workflow,
            "tool": tool,
            "arguments": arguments,
            "risk_level": risk_level,
            "requested_by": requested_by,
        }
        if context is not None:
            body["context"] = context
        if deadline_seconds is not None:
            body["deadline_seconds"] = deadline_seconds
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/api/v1/approvals", body, headers=headers)

    def get(self, approval_id: int) -> dict:
        return self._call("GET", f"/api/v1/approvals/{approval_id}")

    def wait(self, approval_id: int, *, timeout: float | None = None) -> dict:
        """Long-poll until the approval is decided (or ``timeout`` seconds, then it is pending).

        ``None`` waits as long as it takes: the server's deadline policy decides in the end.
        """
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SECONDS if give_up is None else max(0.0, give_up - time.monotonic())
            wait = min(POLL_SECONDS, left)
            approval = self._call(
                "GET",
                f"/api/v1/approvals/{approval_id}/wait?timeout={wait:.3f}",
                timeout=wait + self.timeout,
            )
            if approval["status"] != "pending" or (give_up is not None and left <= wait):
                return approval

    def request_and_wait(self, *, timeout: float | None = None, **ask: Any) -> dict:
        approval = self.request(**ask)
        if approval["status"] != "pending":
            return approval
        return self.wait(approval["id"], timeout=timeout)
