"""Someone signed in reads the interactive API docs and tries an endpoint from them."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_list_the_operations_and_try_one_signed_in(sign_in, live_server):
    page = sign_in("alice")  # a reviewer: the queue list she tries has her queue in it
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda request: (
            None
            if request.url.startswith(live_server.url) or request.url.startswith("data:")
            else elsewhere.append(request.url)
        ),
    )
    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("reviewapp API")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    paths = set(operations.all_inner_texts())
    assert {"/api/v1/queues/", "/api/v1/tasks/{task_id}/decision"} <= {
        p.replace("\u200b", "") for p in paths
    }

    # Try the queue list from the docs: the session that signed in is what it sends.
    queues = page.locator(".opblock-get", has=page.locator('[data-path="/api/v1/queues/"]'))
    queues.locator(".opblock-summary").click()
    queues.get_by_role("button", name="Try it out").click()
    queues.get_by_role("button", name="Execute").click()
    status = queues.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text(re.compile(r"^\s*200"))
    expect(queues.locator(".live-responses-table")).to_contain_text("ticket-triage")
    assert elsewhere == [], f"the docs fetched from elsewhere: {elsewhere}"
