"""The team reviewers page: who is listed, what they hold, and editing a profile."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.core.accounts.models import ReviewerProfile
from reviewapp.core.accounts.services import reviewer_profile_set
from reviewapp.core.audit.models import AuditEvent
from reviewapp.review.reviews.assignments import review_tasks_bulk_assign
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.models import ReviewTask

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _profile_url(username):
    return reverse("team-reviewer-profile", args=[username])


def test_a_manager_sees_their_teams_reviewers_with_profile_and_claims_held(
    browser_as, manager, reviewer, second_reviewer, outsider, demo, routed_items
):
    routed_items(count=20)
    reviewer_profile_set(
        user=reviewer, acting_user=manager, skills=["billing"], languages=["en", "de"], max_claims=4
    )
    review_tasks_bulk_assign(queue=demo.queue, to_reviewer=reviewer, count=2, acting_user=manager)
    # A claim whose lease ran out no longer counts: anyone may take it.
    expired = review_task_claim(queue=demo.queue, reviewer=second_reviewer)
    ReviewTask.objects.filter(pk=expired.pk).update(
        lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    page = browser_as(manager).get(reverse("team-reviewers"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-reviewer="alice"' in html and 'data-reviewer="bob"' in html
    assert "oscar" not in html  # another team's reviewer
    assert 'data-reviewer="maria"' not in html  # managers are not listed as reviewers
    rows = page.context["rows"]
    held = {row["reviewer"].username: row["claims_held"] for row in rows}
    assert held == {"alice": 2, "bob": 0}
    alice = next(row for row in rows if row["reviewer"].username == "alice")
    assert alice["form"] == {"skills": "billing", "languages": "de, en", "max_claims": "4"}


def test_the_page_is_for_managers(browser_as, reviewer, outsider, demo):
    assert browser_as(reviewer).get(reverse("team-reviewers")).status_code == 404
    assert browser_as(outsider).get(reverse("team-reviewers")).status_code == 404


def test_a_manager_edits_a_reviewers_profile(browser_as, manager, reviewer, demo):
    answer = browser_as(manager).post(
        _profile_url("alice"),
        {"skills": "billing, Refunds", "languages": "en", "max_claims": "5"},
        follow=True,
    )
    assert b"Profile of alice saved." in answer.content
    profile = ReviewerProfile.objects.get(user=reviewer)
    assert (profile.skills, profile.languages, profile.max_claims) == (
        ["billing", "refunds"],
        ["en"],
        5,
    )
    assert AuditEvent.objects.filter(action="reviewer_profile.changed", actor=manager).count() == 1


def test_an_empty_cap_means_no_personal_cap(browser_as, manager, reviewer, demo):
    reviewer_profile_set(user=reviewer, acting_user=manager, max_claims=3)
    browser_as(manager).post(
        _profile_url("alice"), {"skills": "", "languages": "", "max_claims": ""}
    )
    assert ReviewerProfile.objects.get(user=reviewer).max_claims is None


@pytest.mark.parametrize(
    "form,field,message",
    [
        (
            {"skills": "billing, Data Science!", "languages": "", "max_claims": ""},
            "skills",
            b"Use lower-case letters",
        ),
        (
            {"skills": "", "languages": "", "max_claims": "-2"},
            "max_claims",
            b"Give a whole number from 1 to 1000",
        ),
        (
            {"skills": "", "languages": "", "max_claims": "many"},
            "max_claims",
            b"Give a whole number from 1 to 1000",
        ),
    ],
)
def test_a_refused_profile_shows_the_field_message_keeps_input_and_changes_nothing(
    browser_as, manager, reviewer, demo, form, field, message
):
    reviewer_profile_set(user=reviewer, acting_user=manager, skills=["billing"], max_claims=3)
    answer = browser_as(manager).post(_profile_url("alice"), form)
    assert answer.status_code == 422
    html = answer.content.decode()
    assert f'data-field="{field}"' in html and message in answer.content
    assert f'name="{field}" value="{form[field]}"' in html
    profile = ReviewerProfile.objects.get(user=reviewer)
    assert (profile.skills, profile.max_claims) == (["billing"], 3)
    assert AuditEvent.objects.filter(action="reviewer_profile.changed").count() == 1


def test_an_htmx_edit_answers_with_the_row_only(browser_as, manager, reviewer, demo):
    answer = browser_as(manager).post(
        _profile_url("alice"), {"skills": "", "languages": "fr", "max_claims": ""}, **HTMX
    )
    assert answer.status_code == 200
    html = answer.content.decode().lstrip()
    assert html.startswith(f'<tr id="reviewer-{reviewer.pk}"') and "Profile of alice saved." in html
    refused = browser_as(manager).post(
        _profile_url("alice"),
        {"skills": "", "languages": "Klingon language", "max_claims": ""},
        **HTMX,
    )
    assert refused.status_code == 422
    assert refused.content.decode().lstrip().startswith(f'<tr id="reviewer-{reviewer.pk}"')


def test_nobody_edits_a_reviewer_outside_their_teams(
    browser_as, manager, reviewer, outsider, other_manager, demo
):
    assert browser_as(manager).post(_profile_url("oscar"), {"skills": "x"}).status_code == 404
    assert browser_as(other_manager).post(_profile_url("alice"), {"skills": "x"}).status_code == 404
    assert browser_as(reviewer).post(_profile_url("bob"), {"skills": "x"}).status_code == 404
    assert not ReviewerProfile.objects.filter(skills=["x"]).exists()
