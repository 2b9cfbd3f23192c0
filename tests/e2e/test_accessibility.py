"""axe-core on every page each role of the demo reaches: no serious or critical violation.

Each role signs in once and walks, in one browser context, the pages its top bar offers and one
page of each kind linked from them (a queue's drill-down, an item, a workflow's canary page...),
plus a claimed task's review page. axe is evaluated by Playwright, which the Content-Security-Policy
does not apply to, so the pages are checked exactly as they are served.
"""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import Page

from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.sla.sweep import sla_sweep

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parents[1] / "support" / "axe" / "axe.min.js").read_text()
# The roles of the demo; the two ML engineers (mel requests, ines approves) see the same pages.
ROLES = ("alice", "maria", "mel", "api-client")
BLOCKING = {"serious", "critical"}
# Links that are not pages: files, the API, the admin site, signing out.
NOT_PAGES = re.compile(
    r"^/(api/|admin/|static/|accounts/logout)|/download|\.(csv|jsonl|parquet|zip)$"
)
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
  }));
}"""


def page_kind(path: str) -> str:
    """``/board/queues/7/`` and ``/board/queues/9/`` are one kind of page: check one of them."""
    return re.sub(r"/\d+", "/N", path)


def axe_problems(page: Page) -> list[str]:
    """axe on the page as it stands (loaded, its htmx requests done); serious and critical only."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    if page.evaluate("typeof window.axe") != "object":
        page.evaluate(AXE)
    path = urlsplit(page.url).path
    return [
        f"{path}: {v['impact']} {v['id']} ({v['help']}) at {', '.join(v['targets'])}"
        for v in page.evaluate(RUN_AXE)
        if v["impact"] in BLOCKING
    ]


def same_site_links(page: Page, selector: str) -> list[str]:
    hrefs = page.eval_on_selector_all(
        selector, "links => links.filter(a => !a.hasAttribute('download')).map(a => a.href)"
    )
    origin = urlsplit(page.url).netloc
    return [
        parts.path + (f"?{parts.query}" if parts.query else "")
        for parts in map(urlsplit, hrefs)
        if parts.netloc == origin and not NOT_PAGES.search(parts.path)
    ]


def check_pages(page: Page, paths: list[str], seen: set[str]) -> tuple[list[str], list[str]]:
    """axe on each path of a kind not checked yet; returns the problems and the pages they link."""
    problems: list[str] = []
    linked: list[str] = []
    for path in paths:
        kind = page_kind(urlsplit(path).path)
        if kind in seen:
            continue
        seen.add(kind)
        page.goto(path)
        problems += axe_problems(page)
        linked += same_site_links(page, "main a[href]")
    return problems, linked


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    browser, live_server, sign_in, routed_items
):
    routed_items(count=4)
    # A breach for maria, so her inbox is checked with a notification (and its forms) in it.
    task = ReviewTask.objects.filter(status=TaskStatus.OPEN).first()
    assert task is not None
    ReviewTask.objects.filter(pk=task.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert sla_sweep().breached == 1
    anonymous = browser.new_context(base_url=live_server.url)
    login = anonymous.new_page()
    login.goto("/accounts/login/")
    problems = axe_problems(login)
    anonymous.close()
    # A page checked for one role is not checked again for the next: the pages each role
    # adds are the ones its top bar and their links lead to.
    seen: set[str] = {"/", "/accounts/login/"}
    for username in ROLES:
        page = sign_in(username, start=None)
        if username == "alice":
            page.goto("/queues/")
            page.get_by_role("button", name="Review next").first.click()
            page.wait_for_url(re.compile(r"/review/\d+/$"))
            seen.add(page_kind(urlsplit(page.url).path))
            problems += axe_problems(page)
        found, linked = check_pages(page, same_site_links(page, "header a[href]"), seen)
        problems += found
        problems += check_pages(page, linked, seen)[0]
    assert {
        "/review/N/",
        "/board/queues/N/",
        "/board/queues/N/reviewers/",
        "/items/N/",
        "/datasets/",
        "/audit/",
        "/notifications/",
    } <= seen, seen
    assert not problems, "Serious or critical accessibility violations:\n" + "\n".join(problems)


def test_a_release_page_has_no_serious_or_critical_accessibility_violation(
    sign_in, routed_items, demo, reviewer, requester, approver
):
    """A built release is not in the demo's data, so the walk above never reaches its page."""
    routed_items(count=20)
    for _ in range(2):
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        review_task_decide(
            task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept"
        )
    releases = []
    for formats in (["jsonl"], ["jsonl", "csv"]):  # the second has a diff to show
        export = dataset_export_request(
            workflow=demo.workflow, requested_by=requester, export_formats=formats
        )
        dataset_export_approve(export=export, approver=approver)
        releases.append(dataset_export_build(export_id=export.pk))
    page = sign_in("mel", start=None)

    problems: list[str] = []
    for release in releases:
        page.goto(f"/datasets/releases/{release.pk}/")
        problems += axe_problems(page)

    assert not problems, "Serious or critical accessibility violations:\n" + "\n".join(problems)
