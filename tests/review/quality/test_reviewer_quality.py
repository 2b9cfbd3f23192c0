"""Per-reviewer quality figures for managers: equal to a ground truth counted in the test."""

from collections import Counter

import pytest

from reviewapp.review.quality.models import GoldTask
from reviewapp.review.quality.selectors import reviewer_quality
from reviewapp.review.quality.services import gold_item_add, queue_quality_set
from reviewapp.review.reviews.claims import review_task_claim
from tests.review.quality.conftest import correct_reason, decide, other_label

TICKET = {"subject": "Refund not received", "body": "I was charged twice.", "customer_tier": "pro"}


@pytest.fixture
def worked_queue(four_eyes_items, demo, manager, reviewer, second_reviewer, senior):
    """Every item goes to four-eyes and brings a gold task; alice, bob and sam work the queue.

    The gold item shows a wrong answer. alice accepts everything (so she misses every gold);
    bob corrects gold to the known answer, and on real items corrects every other item he
    sees; sam corrects every other gold task he sees and accepts the rest, settling the
    disagreements as a third reviewer. Returns the truth counted while they worked.
    """
    queue_quality_set(queue=demo.queue, acting_user=manager, gold_rate=1.0)
    gold_item_add(
        queue=demo.queue,
        acting_user=manager,
        input=TICKET | {"subject": "App crashes"},
        expected_output={"label": "technical"},
        proposed_output={"label": "billing"},
    )
    four_eyes_items(count=8, seed=4)
    reason = [correct_reason(demo.workflow)]
    truth = {
        "decisions": Counter(),
        "gold_total": Counter(),
        "gold_correct": Counter(),
        "answers": {},  # item -> {reviewer: (outcome, output)}
    }
    bob_real = sam_gold = 0
    while True:
        progressed = False
        for person in (reviewer, second_reviewer, senior):
            task = review_task_claim(queue=demo.queue, reviewer=person)
            if task is None:
                continue
            progressed = True
            name = person.get_username()
            gold = GoldTask.objects.filter(task=task).select_related("gold_item").first()
            proposed = task.item.prediction.output
            if gold is not None:
                expected = gold.gold_item.expected_output
                sam_gold += name == "sam"
                if name == "bob" or (name == "sam" and sam_gold % 2 == 0):
                    decide(task, person, outcome="correct", output=expected, reason_codes=reason)
                    right = True
                else:
                    decide(task, person)
                    right = proposed == expected
                truth["gold_total"][name] += 1
                truth["gold_correct"][name] += right
                continue
            truth["decisions"][name] += 1
            if name == "bob":
                bob_real += 1
            if name == "bob" and bob_real % 2 == 0:
                output = {"label": other_label(proposed["label"])}
                decide(task, person, outcome="correct", output=output, reason_codes=reason)
                answer = ("correct", output)
            else:
                decide(task, person)
                answer = ("accept", proposed)
            # The pair are the item's first two tasks; a third one is a disagreement's senior task.
            pair = sorted(task.item.tasks.values_list("pk", flat=True))[:2]
            if task.pk in pair:
                truth["answers"].setdefault(task.item_id, {})[name] = answer
        if not progressed:
            return truth


def expected_rows(truth) -> dict[str, dict]:
    paired, agreed = Counter(), Counter()
    for answers in truth["answers"].values():
        if len(answers) != 2:
            continue
        same = len(set(map(str, answers.values()))) == 1
        for name in answers:
            paired[name] += 1
            agreed[name] += same
    rows = {}
    for name in ("alice", "bob", "sam"):
        gold_total = truth["gold_total"][name]
        rows[name] = {
            "reviewer": name,
            "decisions": truth["decisions"][name],
            "gold_total": gold_total,
            "gold_correct": truth["gold_correct"][name],
            "gold_accuracy": (
                round(truth["gold_correct"][name] / gold_total, 4) if gold_total else None
            ),
            "four_eyes_paired": paired[name],
            "four_eyes_agreed": agreed[name],
            "agreement_rate": round(agreed[name] / paired[name], 4) if paired[name] else None,
        }
    return {name: row for name, row in rows.items() if row["decisions"] or row["gold_total"]}


def test_the_figures_equal_the_truth_counted_while_reviewing(worked_queue, demo):
    expected = expected_rows(worked_queue)
    # The scenario must exercise what it measures: gold both ways, agreement both ways.
    rows = expected.values()
    assert sum(r["gold_correct"] for r in rows) < sum(r["gold_total"] for r in rows)
    assert any(r["gold_correct"] for r in rows)
    assert 0 < sum(r["four_eyes_agreed"] for r in rows) < sum(r["four_eyes_paired"] for r in rows)
    assert set(expected) == {"alice", "bob", "sam"}

    figures = {row.reviewer: row.as_dict() for row in reviewer_quality(queues=[demo.queue])}

    assert figures == expected


def test_the_api_gives_the_same_figures_to_managers_only(
    worked_queue, demo, api, manager, reviewer, outsider
):
    url = f"/api/v1/queues/{demo.queue.pk}/reviewer-quality"
    response = api(manager).get(url)
    assert response.status_code == 200
    assert {row["reviewer"]: row for row in response.json()["reviewers"]} == expected_rows(
        worked_queue
    )
    assert api(reviewer).get(url).status_code == 404
    assert api(outsider).get(url).status_code == 404


def test_the_quality_page_shows_the_figures_to_managers_only(
    worked_queue, demo, client, manager, reviewer, outsider
):
    url = f"/board/queues/{demo.queue.pk}/quality/"
    client.force_login(manager)
    board = client.get("/board/").content.decode()
    assert url in board
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    alice = expected_rows(worked_queue)["alice"]
    assert 'data-reviewer="alice"' in html
    assert f"{alice['gold_correct']} / {alice['gold_total']}" in html
    assert f"{alice['four_eyes_agreed']} / {alice['four_eyes_paired']}" in html
    for person in (reviewer, outsider):
        client.force_login(person)
        assert client.get(url).status_code == 404
        assert client.get(f"/board/queues/{demo.queue.pk}/gold/").status_code == 404


def test_an_empty_queue_has_a_friendly_empty_state(demo, client, manager):
    client.force_login(manager)
    response = client.get(f"/board/queues/{demo.queue.pk}/quality/")
    assert response.status_code == 200
    assert "Nobody has decided a task in this queue yet." in response.content.decode()


def test_the_settings_form_refuses_a_bad_rate_with_a_message(demo, client, manager):
    client.force_login(manager)
    response = client.post(
        f"/board/queues/{demo.queue.pk}/quality/settings", {"gold_rate": "2"}, follow=True
    )
    assert "Give a share between 0 and 1" in response.content.decode()
    response = client.post(
        f"/board/queues/{demo.queue.pk}/quality/settings", {"gold_rate": "0.25"}, follow=True
    )
    assert "Quality settings saved." in response.content.decode()
    assert demo.queue.quality.gold_rate == 0.25


def test_the_gold_page_adds_an_item_and_shows_field_errors(demo, client, manager):
    client.force_login(manager)
    url = f"/board/queues/{demo.queue.pk}/gold/"
    bad = client.post(url, {"input": '{"body": "x"}', "expected_output": "not json"})
    assert bad.status_code == 400
    assert "expected_output: Write it as JSON" in bad.content.decode()
    mismatch = client.post(url, {"input": '{"body": "x"}', "expected_output": '{"label": "x"}'})
    assert mismatch.status_code == 400
    html = mismatch.content.decode()
    assert "input.subject: This field is required." in html
    assert "expected_output.label" in html
    good = client.post(
        url,
        {
            "input": '{"subject": "<script>alert(1)</script>", "body": "b"}',
            "expected_output": '{"label": "billing"}',
        },
        follow=True,
    )
    html = good.content.decode()
    assert "Gold item added." in html
    assert "<script>alert(1)</script>" not in html  # item content is escaped
    gold = demo.queue.gold_items.get()
    retired = client.post(f"{url}{gold.pk}/retire", follow=True)
    assert f"Gold item {gold.pk} retired." in retired.content.decode()
    gold.refresh_from_db()
    assert gold.active is False


def test_the_figures_take_five_queries_whatever_the_number_of_reviewers(
    worked_queue, demo, django_assert_num_queries
):
    # Decisions, gold, the two sides of the pairs, and the reviewers' names.
    with django_assert_num_queries(5):
        rows = reviewer_quality(queues=[demo.queue])
    assert len(rows) == 3
