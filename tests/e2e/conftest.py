"""Browser tests: Playwright's sync API driving Debian's chromium against pytest-django's
live_server.

Playwright's sync API runs an event loop in the test thread, so Django would refuse ORM calls
from the test body without DJANGO_ALLOW_ASYNC_UNSAFE; the live server runs in its own thread.
"""

import os

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000
# Reported by the page itself, so every e2e test proves the Content-Security-Policy holds.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def watch_csp(context: BrowserContext, violations: list[str]) -> None:
    """Collect CSP violations of every page of ``context`` (the page's event and Chromium's
    own console report)."""
    context.add_init_script(REPORT_CSP_VIOLATIONS)

    def on_console(message) -> None:
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            violations.append(f"{message.page.url if message.page else ''}: {text}")

    context.on("console", on_console)


@pytest.fixture(autouse=True)
def no_review_dwell(settings):
    """Tests press Enter as soon as a task shows; only the reviewer journey test (which sets
    its own) checks the minimum dwell before Enter submits."""
    settings.REVIEWAPP_REVIEW_MIN_DWELL_MS = 0


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def sign_in(browser: Browser, live_server, demo):
    """``sign_in("alice")`` opens a fresh browser context, signs in and returns its page."""
    contexts: list[BrowserContext] = []
    violations: list[str] = []

    def open_page_as(username: str, start: str | None = "/queues/") -> Page:
        """Signs in (each role lands on its own page) and goes on to ``start`` unless None."""
        context = browser.new_context(base_url=live_server.url, accept_downloads=True)
        context.set_default_timeout(TIMEOUT_MS)
        watch_csp(context, violations)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(demo.passwords[username])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        if start is not None:
            page.goto(start)
        # Static files come from the live server: without htmx every flow below would still
        # work through full page loads and prove nothing about the enhanced one.
        assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"
        return page

    yield open_page_as
    for context in contexts:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
