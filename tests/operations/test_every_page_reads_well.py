"""Every page of a seeded demo, as each role sees it, shows values for people: no Python repr
(``{'label': ...}``, ``['9', '17']``, ``datetime.datetime(...)``, ``Decimal('1.5')``) anywhere
in the text, and times as ``<time>`` elements in the reader's zone with UTC on hover."""

import re
import zoneinfo
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import Resolver404, resolve, reverse

from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.operations.demo import demo_sla_install
from reviewapp.review.quality.services import gold_item_add
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from workflows.ingest.services import Submission, items_ingest
from workflows.models import Item, ModelVersion
from workflows.pipeline.engine import item_resume_after_review, item_run_step

REPRS = re.compile(r"\{'|\['|datetime\.|Decimal\(")
ROLES = ("alice", "maria", "mel", "ines", "api-client", "admin")
# Pages per route, enough to meet each kind of row without walking all 40 items.
VISITS_PER_ROUTE = 3
SKIPPED_PREFIXES = ("/admin/", "/api/", "/static/", "/accounts/logout/")
ZONE = "Asia/Kolkata"


class _Page(HTMLParser):
    """The text a person reads (and hover titles), and the links and htmx sources to follow."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.fragments: list[str] = []
        self.times: list[dict[str, str | None]] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "a" and named.get("href") and "download" not in named:
            self.links.append(named["href"] or "")
        if named.get("hx-get"):
            self.fragments.append(named["hx-get"] or "")
        if tag == "time":
            self.times.append(named)
        for name in ("title", "aria-label", "placeholder"):
            if named.get(name):
                self.text.append(named[name] or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def _decide_some(demo, reviewer):
    """An accept, a correction and a rejection, each resumed as a worker would."""
    choices = [
        {"outcome": "accept"},
        {"outcome": "correct", "output": {"label": "billing"}, "reason_codes": ["wrong-category"]},
        {"outcome": "reject", "reason_codes": ["spam"], "comment": "Not a ticket"},
    ]
    for choice in choices:
        task = review_task_claim(queue=demo.queue, reviewer=reviewer)
        assert task is not None
        if choice["outcome"] == "correct" and task.item.prediction.output["label"] == "billing":
            choice["output"] = {"label": "technical"}
        review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, **choice)
        item_resume_after_review(item_id=task.item_id)


def _dead_letter_one(demo, integrator, settings):
    settings.REVIEWAPP_STEP_MAX_ATTEMPTS = 1
    artefact = demo.model_version.artefact
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(artefact="models/missing.skops")
    ((item, _),) = items_ingest(
        workflow=demo.workflow,
        submissions=[Submission(input={"subject": "Refund", "body": "charged twice"})],
        submitted_by=integrator,
    )
    item_run_step(item_id=item.pk, step="validate")
    item_run_step(item_id=item.pk, step="infer")
    ModelVersion.objects.filter(pk=demo.model_version.pk).update(artefact=artefact)


@pytest.fixture
def seeded(demo, routed_items, reviewer, manager, requester, approver, integrator, settings):
    demo_sla_install(demo)
    routed_items(count=40)
    _decide_some(demo, reviewer)
    export = dataset_export_request(
        workflow=demo.workflow,
        requested_by=requester,
        filters={"decision": "correct"},
        note="retrain",
    )
    dataset_export_approve(export=export, approver=approver)
    dataset_export_build(export_id=export.pk)
    gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input={"subject": "Invoice twice", "body": "I was charged twice this month"},
        expected_output={"label": "billing"},
    )
    _dead_letter_one(demo, integrator, settings)
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)
    assert held is not None
    decided = list(Item.objects.filter(outcome__in=["accepted", "corrected", "rejected"]))
    return {"held": held, "decided": decided}


def _route(path):
    try:
        return resolve(path).url_name
    except Resolver404:
        return None


def _crawl(client, starts):
    """Every page reachable from ``starts`` by links and htmx sources (GET only), at most a few
    per route; returns {path: (status, parsed page)}."""
    seen: dict[str, tuple[int, _Page]] = {}
    per_route: Counter[str | None] = Counter()
    waiting = [(path, False) for path in starts]
    while waiting:
        path, as_fragment = waiting.pop(0)
        parts = urlsplit(path)
        if (
            parts.netloc
            or not parts.path.startswith("/")
            or parts.path.startswith(SKIPPED_PREFIXES)
        ):
            continue
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        route = _route(parts.path)
        if path in seen or per_route[route] >= VISITS_PER_ROUTE:
            continue
        per_route[route] += 1
        headers = {"HX-Request": "true"} if as_fragment else {}
        response = client.get(path, headers=headers)
        page = _Page()
        if response.get("Content-Type", "").startswith("text/html"):
            page.feed(response.content.decode())
        seen[path] = (response.status_code, page)
        waiting += [(link, False) for link in page.links]
        waiting += [(source, True) for source in page.fragments]
    return seen


@pytest.mark.django_db
def test_no_page_shows_a_python_repr_to_any_role(seeded, client):
    queue, slug = seeded["held"].queue_id, seeded["held"].queue.workflow.slug
    starts = ["/", "/queues/", "/board/", "/datasets/", "/dead-letters/", "/audit/"]
    starts += ["/accounts/preferences/", f"/review/{seeded['held'].pk}/", "/board/reviewers/"]
    starts += [reverse(name, args=[queue]) for name in ("queue-settings", "quality-queue")]
    starts += [reverse("quality-gold", args=[queue]), reverse("board-queue", args=[queue])]
    starts += [
        reverse(name, args=[slug])
        for name in ("canary-page", "policy-simulator", "monitoring-page")
    ]
    starts += [f"/items/{item.pk}/" for item in seeded["decided"]]
    starts += [f"/items/{item.pk}/" for item in Item.objects.filter(status="dead_lettered")]
    visited_routes: set[str | None] = set()
    for username in ROLES:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        client.cookies["tz"] = ZONE
        pages = _crawl(client, starts)
        for path, (status, page) in pages.items():
            assert status < 500, f"{username} got {status} on {path}"
            text = " ".join(" ".join(page.text).split())
            found = REPRS.search(text)
            assert found is None, (
                f"{username} sees a repr on {path}: "
                f"…{text[max(found.start() - 80, 0) : found.end() + 80]}…"
            )
            for moment in page.times:
                assert moment.get("datetime") and (moment.get("title") or "").endswith(" UTC")
            visited_routes.add(_route(urlsplit(path).path))
    # The crawl reached the pages that show JSON values and times, not only the menus.
    shown = {"item-detail", "review-task", "dataset-list", "audit-list", "board-queue"}
    assert shown <= visited_routes


@pytest.mark.django_db
def test_the_item_page_shows_times_in_the_readers_zone_with_utc_on_hover(seeded, client, manager):
    item = seeded["decided"][0]
    client.force_login(manager)
    client.cookies["tz"] = ZONE
    page = client.get(f"/items/{item.pk}/").content.decode()
    received = item.created_at
    local = received.astimezone(zoneinfo.ZoneInfo(ZONE))
    assert f'datetime="{received.isoformat()}"' in page
    assert f'title="{received:%Y-%m-%d %H:%M:%S} UTC">{local:%Y-%m-%d %H:%M:%S} IST</time>' in page
    # The input as a field list, the correction as fields: no JSON braces.
    assert "<dt>Subject</dt>" in page or ">subject</dt>" in page


@pytest.mark.django_db
def test_a_dataset_preview_shows_rows_as_fields(seeded, client, requester):
    client.force_login(requester)
    form = {"workflow": seeded["held"].queue.workflow.slug, "format": "jsonl", "decision": ""}
    answer = client.post(reverse("dataset-preview"), form, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    page = _Page()
    page.feed(answer.content.decode())
    text = " ".join(page.text)
    assert 'data-testid="preview-row"' in answer.content.decode()
    assert REPRS.search(text) is None, text


@pytest.mark.django_db
def test_a_bad_range_in_a_calendar_is_named_as_written(seeded, client, manager):
    client.force_login(manager)
    form = {"calendar": "", "name": "Desk", "time_zone": "Europe/Lisbon", "holidays": ""}
    form |= {f"hours_{day}": "" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    form["hours_mon"] = "9-17"
    queue = seeded["held"].queue_id
    answer = client.post(reverse("queue-settings-calendar", args=[queue]), form)
    assert answer.status_code == 422
    page = _Page()
    page.feed(answer.content.decode())
    text = " ".join(page.text)
    assert "“9-17” is not a range of two times HH:MM." in text
    assert REPRS.search(text) is None
