"""Pairwise tasks: opened from shadow answers, claimed and decided through the API, blind."""

from collections import Counter
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from reviewapp.core.audit.models import AuditEvent
from reviewapp.core.permissions import REVIEW_QUEUE
from reviewapp.review.pairwise.models import Comparison, Preferred, Side
from reviewapp.review.pairwise.services import _draws, comparisons_open
from reviewapp.review.reviews.models import QueueKind, TaskStatus
from workflows.models import ShadowPrediction


def test_finished_items_with_differing_answers_become_comparisons_once(compared, pairwise_queue):
    assert pairwise_queue.kind == QueueKind.PAIRWISE
    for comparison in compared:
        assert comparison.champion_output != comparison.candidate_output
        assert comparison.champion.version == "1"
        assert comparison.candidate.version == "2-noise"
        assert comparison.task.queue_id == pairwise_queue.pk
        assert comparison.task.status == TaskStatus.OPEN
    differing = [
        a
        for a in ShadowPrediction.objects.select_related("item__prediction")
        if a.output != a.item.prediction.output
    ]
    assert len(compared) == len(differing)  # sample rate 1: every differing answer
    # The sweep read up to the last item; running it again opens nothing twice.
    assert comparisons_open(now=timezone.now() + timedelta(minutes=5)) == 0
    assert Comparison.objects.count() == len(compared)


def test_sides_are_balanced_and_the_sample_keeps_its_rate():
    draws = [_draws(n) for n in range(1, 4001)]
    sides = Counter(side for _, side in draws)
    assert 0.46 < sides[Side.A] / 4000 < 0.54
    assert 0.17 < sum(draw < 0.2 for draw, _ in draws) / 4000 < 0.23


def test_a_reviewer_claims_and_decides_a_comparison_through_the_api(
    api, compared, pairwise_queue, reviewer
):
    client = api(reviewer)
    claimed = client.post(reverse("api-queue-claim", args=[pairwise_queue.pk]))
    assert claimed.status_code == 200, claimed.content
    body = claimed.json()
    assert body["kind"] == "pairwise"
    assert "prediction" not in body  # the serving answer would tell the sides apart
    task_id, token = body["id"], body["claim_token"]

    shown = client.get(reverse("api-pairwise-task", args=[task_id]))
    assert shown.status_code == 200
    seen = shown.json()
    comparison = Comparison.objects.get(task_id=task_id)
    assert seen["a"] == comparison.output_on(Side.A)
    assert seen["b"] == comparison.output_on(Side.B)
    assert "2-noise" not in shown.content.decode()
    assert "ticket-triage" not in shown.content.decode()

    url = reverse("api-pairwise-decision", args=[task_id])
    missing = client.post(url, {"claim_token": token, "choice": "b", "reason": " "}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"]["reason"]
    wrong = client.post(url, {"claim_token": token, "choice": "c", "reason": "x"}, format="json")
    assert wrong.status_code == 400
    assert "choice" in wrong.json()["errors"]
    # The reviews' own decision refuses a pairwise task: it is never an accept of one side.
    accept = client.post(
        reverse("api-task-decision", args=[task_id]),
        {"claim_token": token, "outcome": "accept"},
        format="json",
    )
    assert accept.status_code == 400

    decided = client.post(
        url, {"claim_token": token, "choice": "b", "reason": "B names the product"}, format="json"
    )
    assert decided.status_code == 201, decided.content
    comparison.refresh_from_db()
    assert comparison.choice == "b"
    expected = Preferred.CANDIDATE if comparison.candidate_side == Side.B else Preferred.CHAMPION
    assert comparison.preferred == expected
    assert comparison.reviewer == reviewer
    assert comparison.task.status == TaskStatus.DECIDED
    event = AuditEvent.objects.get(action="task.decided", object_id=str(task_id))
    assert event.data["pairwise_choice"] == "b"
    assert event.data["preferred"] == expected

    # A lost answer sent again finds it saved; another answer under that claim is refused.
    again = client.post(url, {"claim_token": token, "choice": "b", "reason": "B"}, format="json")
    assert again.status_code == 201
    other = client.post(url, {"claim_token": token, "choice": "a", "reason": "A"}, format="json")
    assert other.status_code == 409


def test_the_comparison_page_shows_a_and_b_and_never_a_version(
    client, compared, pairwise_queue, reviewer
):
    client.force_login(reviewer)
    claimed = client.post(reverse("queue-next", args=[pairwise_queue.pk]))
    assert claimed.status_code == 302
    assert "/pairwise/" in claimed["Location"]
    page = client.get(claimed["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "2-noise" not in html and "ticket-triage@" not in html
    assert 'data-testid="output-a"' in html and 'data-testid="output-b"' in html
    # The ordinary review page of a comparison task leads to this one.
    task_id = int(claimed["Location"].rstrip("/").rsplit("/", 1)[1])
    assert client.get(reverse("review-task", args=[task_id]))["Location"] == claimed["Location"]
    # Without a reason the choice comes back with the message, nothing saved.
    token = Comparison.objects.get(task_id=task_id).task.claim_token
    refused = client.post(
        reverse("pairwise-decide", args=[task_id]),
        {"claim_token": str(token), "choice": "tie", "reason": ""},
    )
    assert refused.status_code == 422
    assert "Say why" in refused.content.decode()
    assert Comparison.objects.get(task_id=task_id).decided_at is None


def test_a_comparison_does_not_open_its_items_page(
    client, demo, compared, pairwise_queue, reviewer
):
    """The item page shows the serving model's answer: it would tell the sides apart."""
    only_pairwise = get_user_model().objects.create_user(username="pia")
    assign_perm(REVIEW_QUEUE, only_pairwise, pairwise_queue)
    reviewed = next(c for c in compared if c.item.tasks.filter(queue=demo.queue).exists())
    item_page = reverse("item-detail", args=[reviewed.item_id])

    client.force_login(only_pairwise)
    assert client.get(item_page).status_code == 404
    # Someone who reviews the item's own queue still sees it.
    client.force_login(reviewer)
    assert client.get(item_page).status_code == 200
