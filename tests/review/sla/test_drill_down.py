"""The managers' drill-down of a queue: columns, sorts, keyset pages, filters, search, bad input.

Tasks are opened through ``review_task_open`` from demo tickets with predictions made here, then
given the deadlines, ages and priorities each test needs (with ties, so the id decides).
"""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reviewapp.operations.demo import demo_items_submit
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import ReviewTask, TaskStatus
from reviewapp.review.reviews.opening import review_task_open
from reviewapp.review.reviews.queues import queue_create
from reviewapp.review.sla import drill_down
from reviewapp.review.sla.drill_down import (
    ListingInvalid,
    TaskListing,
    cursor_encode,
    listing_from_query,
    task_page,
    tasks_matching,
)
from workflows.models import Item, Prediction

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LABELS = ["billing", "technical", "account", "shipping"]


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def tasks(demo):
    """Twelve open tasks: subjects "Ticket 0".."Ticket 11" (two say "Refund"), labels in turn,
    confidences 0.3..0.85, deadlines and ages with ties, two without a deadline."""
    with time_machine.travel(NOW - 10 * HOUR, tick=False):
        demo_items_submit(demo, count=12, seed=7)
        items = list(Item.objects.order_by("pk"))
        for n, item in enumerate(items):
            item.input = {
                **item.input,
                "subject": f"Ticket {n}" + (" REFUND now" if n in (4, 9) else ""),
            }
            item.save(update_fields=["input"])
            Prediction.objects.create(
                item=item,
                model_version=demo.model_version,
                output={"label": LABELS[n % 4]},
                confidence=0.3 + 0.05 * (n % 12),
                probabilities={},
                latency_ms=1.0,
            )
        opened = [review_task_open(item=item, queue_slug=demo.queue.slug) for item in items]
    for n, task in enumerate(opened):
        ReviewTask.objects.filter(pk=task.pk).update(
            # Deadlines in pairs (ties), the last two without one.
            due_at=None if n >= 10 else NOW + (n // 2) * HOUR,
            created_at=NOW - 10 * HOUR + (n % 3) * HOUR,  # ages tie in threes
            priority=n % 2,
        )
    return list(ReviewTask.objects.filter(pk__in=[t.pk for t in opened]).order_by("pk"))


def walk(queue, listing, size=5):
    """Every page forward from the first, then every page back from the last: ids in order."""
    forward, pages = [], []
    current = listing
    while True:
        page = task_page(queue=queue, listing=current, size=size)
        pages.append(page)
        forward += [row.task.pk for row in page.rows]
        if not page.next_cursor:
            break
        current = listing_from_query(_query(listing, after=page.next_cursor))
    backward = [row.task.pk for row in pages[-1].rows]
    page = pages[-1]
    while page.previous_cursor:
        page = task_page(
            queue=queue,
            listing=listing_from_query(_query(listing, before=page.previous_cursor)),
            size=size,
        )
        backward = [row.task.pk for row in page.rows] + backward
    return forward, backward


def _query(listing, **cursor):
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.update(listing.params())
    query.update(cursor)
    return query


def expected(tasks, key):
    fresh = ReviewTask.objects.filter(pk__in=[t.pk for t in tasks])
    return [t.pk for t in sorted(fresh, key=key)]


FAR = datetime(9999, 12, 31, tzinfo=UTC)
ORDERS = {
    "urgency": lambda t: (t.due_at or FAR, t.created_at, t.pk),
    "age": lambda t: (t.created_at, t.pk),
    "priority": lambda t: (-t.priority, t.created_at, t.pk),
    "confidence": lambda t: (-t.uncertainty, t.created_at, t.pk),
}


def test_a_task_carries_its_items_subject_and_predicted_label(tasks):
    assert tasks[4].subject == "Ticket 4 REFUND now"
    assert [t.predicted_label for t in tasks[:4]] == LABELS
    assert tasks[0].uncertainty == pytest.approx(0.7)


@pytest.mark.parametrize("sort", list(ORDERS))
def test_each_sort_pages_forward_and_back_through_ties_without_gaps_or_repeats(tasks, demo, sort):
    with time_machine.travel(NOW, tick=False):
        forward, backward = walk(demo.queue, TaskListing(sort=sort), size=5)
    assert forward == expected(tasks, ORDERS[sort])
    assert backward == forward


def test_a_page_cursor_stays_put_when_tasks_before_it_go(tasks, demo):
    first = task_page(queue=demo.queue, listing=TaskListing(), size=4)
    ReviewTask.objects.filter(pk=first.rows[0].task.pk).update(status=TaskStatus.CANCELLED)
    second = task_page(
        queue=demo.queue,
        listing=listing_from_query(_query(TaskListing(), after=first.next_cursor)),
        size=4,
    )
    assert [r.task.pk for r in second.rows] == expected(tasks, ORDERS["urgency"])[4:8]


def test_filters_by_state_holder_label_and_confidence(tasks, demo, reviewer):
    held = review_task_claim(queue=demo.queue, reviewer=reviewer)
    ReviewTask.objects.filter(pk=tasks[0].pk).update(at_risk_at=NOW)

    def ids(**filters):
        return sorted(
            tasks_matching(demo.queue, TaskListing(**filters)).values_list("pk", flat=True)
        )

    assert ids(state="claimed") == [held.pk] == ids(holder_id=reviewer.pk)
    assert ids(state="at_risk") == [tasks[0].pk]
    assert ids(label="technical") == [tasks[n].pk for n in (1, 5, 9)]
    # 0.30 + 0.05 n: from 50 % to 60 % is n = 4, 5, 6 (the bounds count).
    assert ids(confidence_min=50, confidence_max=60) == [tasks[n].pk for n in (4, 5, 6)]
    assert ids(label="technical", confidence_min=50) == [tasks[n].pk for n in (5, 9)]


def test_search_finds_words_in_the_subject_whatever_their_case(tasks, demo):
    def ids(text):
        return sorted(
            tasks_matching(demo.queue, TaskListing(search=text)).values_list("pk", flat=True)
        )

    assert ids("refund") == [tasks[4].pk, tasks[9].pk]
    assert ids("ticket 1") == [tasks[n].pk for n in (1, 10, 11)]
    assert ids("100%") == []  # a % is a character to find, not a wildcard


@pytest.mark.parametrize("window", [2, 4, 5000])
@pytest.mark.parametrize(("text", "sort"), [("ticket", "urgency"), ("ticket 1", "priority")])
def test_a_search_pages_in_order_whether_the_first_tasks_checked_hold_a_page_or_not(
    tasks, demo, monkeypatch, window, text, sort
):
    # A small window makes the search go on to the trigram index after checking a few tasks.
    monkeypatch.setattr(drill_down, "SEARCH_WINDOW", window)
    matching = [t for t in tasks if text in t.subject.lower()]
    forward, backward = walk(demo.queue, TaskListing(sort=sort, search=text), size=2)
    assert forward == expected(matching, ORDERS[sort])
    assert backward == forward


def test_another_queues_tasks_never_show(tasks, demo):
    other = queue_create(team=demo.team, workflow=demo.workflow, slug="other-q", name="Other")
    ReviewTask.objects.filter(pk=tasks[0].pk).update(queue=other)
    shown = task_page(queue=demo.queue, listing=TaskListing(), size=50)
    assert tasks[0].pk not in [r.task.pk for r in shown.rows]
    assert len(shown.rows) == len(tasks) - 1


def test_the_page_shows_each_column_for_people(tasks, demo, manager):
    with time_machine.travel(NOW, tick=False):
        html = (
            browser(manager)
            .get(f"/board/queues/{demo.queue.pk}/?sort=age&q=refund")
            .content.decode()
        )
    assert "Ticket 4 REFUND now" in html and "Ticket 9 REFUND now" in html
    assert "Ticket 3<" not in html
    row = html[html.index(f'<tr data-task="{tasks[4].pk}"') :]
    row = row[: row.index("</tr>")]
    assert ">billing<" in row  # label of ticket 4
    assert ">50%<" in row  # confidence 0.3 + 0.2
    assert "9 hours" in row  # age in words
    assert "<time" in row  # the due time, local (the when filter)


def test_subjects_are_escaped(tasks, demo, manager):
    ReviewTask.objects.filter(pk=tasks[0].pk).update(subject="<script>alert(1)</script>")
    html = browser(manager).get(f"/board/queues/{demo.queue.pk}/").content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html


def test_next_and_previous_links_walk_the_pages_without_javascript(
    tasks, demo, manager, monkeypatch
):
    monkeypatch.setattr(drill_down, "PAGE_SIZE", 5)
    client = browser(manager)
    url = f"/board/queues/{demo.queue.pk}/"
    link = re.compile(r'rel="(next|prev)" href="([^"]+)"')
    seen, html = [], client.get(url, {"sort": "priority"}).content.decode()
    assert 'rel="prev"' not in html
    while True:
        seen += [int(pk) for pk in re.findall(r'<tr data-task="(\d+)"', html)]
        links = dict(link.findall(html))
        if "next" not in links:
            break
        assert "sort=priority" in links["next"]  # the sort and filters stay with the page
        html = client.get(url + unescape(links["next"])).content.decode()
    assert seen == expected(tasks, ORDERS["priority"])
    back = client.get(url + unescape(dict(link.findall(html))["prev"])).content.decode()
    assert [int(pk) for pk in re.findall(r'<tr data-task="(\d+)"', back)] == seen[5:10]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"sort": "whim"}, "Sort by one of"),
        ({"state": "lost"}, "is not a state"),
        ({"reviewer": "bob"}, "Choose the holder"),
        ({"confidence_min": "high"}, "whole percentage"),
        ({"confidence_min": "101"}, "whole percentage"),
        ({"confidence_min": "80", "confidence_max": "20"}, "lowest confidence is above"),
        ({"q": "ab"}, "at least 3 characters"),
        ({"q": "x" * 101}, "at most 100 characters"),
        ({"after": "not-a-cursor"}, "out of date"),
        ({"after": cursor_encode("age", (NOW, 1))}, "out of date"),  # a cursor of another sort
        ({"sort": "age", "after": cursor_encode("age", ("soon", 1))}, "out of date"),
    ],
)
def test_bad_parameters_get_a_message_and_400(demo, manager, query, message):
    response = browser(manager).get(f"/board/queues/{demo.queue.pk}/", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_the_page_reads_a_fixed_number_of_queries_whatever_it_shows(tasks, demo, manager):
    client = browser(manager)
    url = f"/board/queues/{demo.queue.pk}/"
    client.get(url)  # the session and the open count's cache are warm, as for a manager
    with CaptureQueriesContext(connection) as few:
        client.get(url, {"label": "billing"})
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert response.content.decode().count("<tr data-task=") == len(tasks)
    assert len(many) == len(few) == 9


@pytest.mark.parametrize("who", ["reviewer", "outsider"])
def test_only_the_queues_managers_see_its_drill_down_and_bulk_pages(tasks, demo, who, request):
    client = browser(request.getfixturevalue(who))
    url = f"/board/queues/{demo.queue.pk}/"
    assert client.get(url).status_code == 404
    posted = {"action": "unassign", "task": [tasks[0].pk]}
    assert client.post(f"{url}bulk", posted).status_code == 404
    assert client.post(f"{url}bulk/apply", posted).status_code == 404


def test_listing_parameters_round_trip(demo):
    from django.http import QueryDict

    listing = TaskListing(
        sort="confidence", state="open", label="billing", confidence_min=10, search="abc"
    )
    again = listing_from_query(QueryDict(listing.query()))
    assert again == listing
    with pytest.raises(ListingInvalid):
        listing_from_query(QueryDict("after=x&before=y"))
