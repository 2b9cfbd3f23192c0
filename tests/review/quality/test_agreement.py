"""Agreement between the two answers of four-eyes reviews, checked against independent
implementations (the krippendorff package, scikit-learn's kappa) on answers counted here."""

import krippendorff
import numpy as np
import pytest
from django.urls import reverse
from sklearn.metrics import cohen_kappa_score

from reviewapp.review.quality.agreement import queue_agreement, reason_distance
from tests.review.quality.conftest import claim, correct_reason, decide, other_label

ITEMS = 12


def review_all(demo, reviewer, second_reviewer):
    """Both reviewers answer every item: alice accepts, bob corrects one item in three."""
    answers: dict[int, dict[str, tuple]] = {}
    reason = correct_reason(demo.workflow)
    for person in (reviewer, second_reviewer):
        for _ in range(ITEMS):
            task = claim(demo.queue, person)
            label = task.item.prediction.output["label"]
            if person == second_reviewer and task.item_id % 3 == 0:
                output = {"label": other_label(label)}
                decide(task, person, outcome="correct", output=output, reason_codes=[reason])
                answers.setdefault(task.item_id, {})[person.username] = ("correct", output)
            else:
                decide(task, person)
                answers.setdefault(task.item_id, {})[person.username] = (
                    "accept",
                    {"label": label},
                )
    return answers


def test_alpha_kappa_and_hotspots_match_independent_implementations(
    four_eyes_items, demo, reviewer, second_reviewer
):
    assert len(four_eyes_items(count=ITEMS, seed=8)) == ITEMS
    answers = review_all(demo, reviewer, second_reviewer)
    distinct = sorted({repr(answer) for both in answers.values() for answer in both.values()})
    codes = {value: code for code, value in enumerate(distinct)}
    items = sorted(answers)
    data = np.array(
        [[codes[repr(answers[item][who])] for item in items] for who in ("alice", "bob")],
        dtype=float,
    )
    disagreements = sum(answers[i]["alice"] != answers[i]["bob"] for i in items)
    assert 0 < disagreements < ITEMS

    agreement = queue_agreement(demo.queue)
    assert agreement.pairs == ITEMS
    whole = next(a for a in agreement.alphas if a.name == "whole answer")
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert whole.value == pytest.approx(expected)
    assert whole.interval is not None and whole.interval[0] <= whole.value <= whole.interval[1]
    label = next(a for a in agreement.alphas if a.name == "output: label")
    assert label.units == ITEMS

    [pair] = agreement.kappas
    assert pair.reviewers == ("alice", "bob") and pair.items == ITEMS
    assert pair.kappa == pytest.approx(cohen_kappa_score(data[0], data[1]))

    assert sum(spot.count for spot in agreement.hotspots) == disagreements
    flagged = {item for spot in agreement.hotspots for item in spot.item_ids}
    assert flagged == {i for i in items if answers[i]["alice"] != answers[i]["bob"]}
    assert agreement.trend[-1][1] == pytest.approx(expected), "this week holds every pair"


def test_the_quality_page_shows_agreement_to_managers_only(
    four_eyes_items, demo, reviewer, second_reviewer, manager, client
):
    four_eyes_items(count=ITEMS, seed=8)
    review_all(demo, reviewer, second_reviewer)
    url = reverse("quality-queue", args=[demo.queue.pk])
    client.force_login(manager)
    html = client.get(url).content.decode()
    assert 'data-testid="alpha-whole-answer"' in html
    assert "alice and bob" in html
    assert 'data-testid="hotspots"' in html and "/items/" in html
    client.force_login(reviewer)
    assert client.get(url).status_code == 404


def test_reasons_get_partial_credit_along_the_taxonomy():
    assert reason_distance("wrong-category", "wrong-category") == 0
    assert reason_distance("wrong-category", "wrong-category/near-miss") == 0.5
    assert reason_distance("wrong-category/near-miss", "wrong-category/outdated-routing") == 0.5
    assert reason_distance("wrong-category", "spam") == 1
    assert reason_distance("(no reason)", "spam") == 1
