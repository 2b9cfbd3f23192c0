"""Every page works under the strict Content-Security-Policy: no violation is reported (the
``sign_in`` fixture fails the test on any) and htmx still enhances the pages."""

import pytest

from tests.e2e.conftest import watch_csp

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_main_page_loads_without_a_csp_violation(sign_in, demo, routed_items):
    items = routed_items(count=10)
    pages = {
        "maria": [
            "/queues/",
            "/board/",
            f"/board/queues/{demo.queue.pk}/",
            f"/board/queues/{demo.queue.pk}/settings/",
            f"/board/queues/{demo.queue.pk}/quality/",
            "/board/reviewers/",
            "/dead-letters/",
            "/audit/",
            "/account/tokens/",
            f"/items/{items[0].pk}/",
        ],
        "mel": [
            "/datasets/",
            f"/workflows/{demo.workflow.slug}/canary",
            f"/workflows/{demo.workflow.slug}/simulate",
            f"/workflows/{demo.workflow.slug}/monitoring",
        ],
    }
    for username, paths in pages.items():
        page = sign_in(username)
        header = page.request.get("/queues/").headers["content-security-policy"]
        assert "default-src 'self'" in header and "unsafe-inline" not in header
        for path in paths:
            answer = page.goto(path)
            assert answer is not None and answer.status == 200, path
            page.wait_for_load_state("networkidle")
            assert page.evaluate("typeof window.htmx") == "object", path


def test_an_inline_script_would_be_reported(browser, live_server, demo):
    """The watch itself works: an inline script put into a page is refused and reported."""
    context = browser.new_context(base_url=live_server.url)
    violations: list[str] = []
    watch_csp(context, violations)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.ran = 1'; document.body.appendChild(s); }"
    )
    page.wait_for_timeout(300)
    ran = page.evaluate("window.ran")
    context.close()
    assert ran is None
    assert any("script-src" in v for v in violations), violations
