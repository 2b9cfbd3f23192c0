"""A four-eyes disagreement stays in the labeled data: the row carries the pair's answers."""

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from reviewapp.review.corrections.services import reviewer_pseudonym
from reviewapp.review.quality.models import FourEyesReview
from tests.review.quality import conftest as quality
from tests.review.quality.conftest import claim, correct_reason, decide, other_label
from tests.support.files import export_path

# The four-eyes fixtures of the quality tests.
four_eyes_policy = quality.four_eyes_policy
four_eyes_items = quality.four_eyes_items
senior = quality.senior


@pytest.fixture
def settled(four_eyes_items, demo, reviewer, second_reviewer, senior):
    """Two four-eyes items: alice and bob disagree on the first (sam settles it with a
    correction), and agree on a correction of the second."""
    reasons = [correct_reason(demo.workflow)]

    def review(item, *, second_accepts: bool) -> dict:
        fixed = {"label": other_label(item.prediction.output["label"])}
        first, second = claim(demo.queue, reviewer), claim(demo.queue, second_reviewer)
        assert first.item_id == second.item_id == item.pk
        decide(first, reviewer, outcome="correct", output=fixed, reason_codes=reasons)
        if second_accepts:  # the model's answer: a disagreement, which sam settles
            decide(second, second_reviewer)
            settling = claim(demo.queue, senior)
            decide(settling, senior, outcome="correct", output=fixed, reason_codes=reasons)
        else:
            decide(second, second_reviewer, outcome="correct", output=fixed, reason_codes=reasons)
        return fixed

    # One item at a time: the claim order is the queue's, not ours.
    (disputed,) = four_eyes_items(count=1, seed=3)
    fixed = review(disputed, second_accepts=True)
    agreed = four_eyes_items(count=1, seed=4)[-1]  # the first still waits to resume
    review(agreed, second_accepts=False)
    assert FourEyesReview.objects.get(item=disputed).status == "disagreed"
    answers = {
        reviewer_pseudonym(reviewer): ("correct", fixed),
        reviewer_pseudonym(second_reviewer): ("accept", disputed.prediction.output),
    }
    return disputed, agreed, answers


def rows_of(export) -> list[dict]:
    path = export_path(export)
    if export.format == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if export.format == "csv":
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        for row in rows:
            row["item_id"] = int(row["item_id"])
            row["disagreement"] = json.loads(row["disagreement"]) if row["disagreement"] else None
        return rows
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        row["disagreement"] = json.loads(row["disagreement"]) if row["disagreement"] else None
    return rows


@pytest.mark.parametrize("export_format", ["jsonl", "csv", "parquet"])
def test_the_disputed_answers_travel_with_the_settled_row(release, settled, export_format):
    disputed, agreed, answers = settled

    rows = {row["item_id"]: row for row in rows_of(release(export_format=export_format))}

    assert set(rows) == {disputed.pk, agreed.pk}
    pair = rows[disputed.pk]["disagreement"]["answers"]
    assert {a["reviewer"]: (a["outcome"], a["output"]) for a in pair} == answers
    assert rows[agreed.pk]["disagreement"] is None
