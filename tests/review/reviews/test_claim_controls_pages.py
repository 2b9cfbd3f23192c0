"""The claim controls on the review page: the heartbeat (/review/<task>/heartbeat), the skip
prompt (/review/<task>/skip) and the keyboard shortcuts overlay."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from reviewapp.review.reviews.models import ReviewTask, TaskSkip, TaskStatus

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = settings.REVIEWAPP_LEASE
HTMX = {"HX-Request": "true"}


@pytest.fixture
def in_review(routed_items):
    items = routed_items(count=10, seed=5)
    assert len(items) >= 2, "the demo data must send at least two tickets to review"
    return items


def browser(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice(reviewer):
    return browser(reviewer)


@pytest.fixture
def held(alice, demo, in_review):
    """Alice pressed "Review next" at NOW; the task she holds."""
    with time_machine.travel(NOW, tick=False):
        response = alice.post(f"/queues/{demo.queue.pk}/next")
    match = re.fullmatch(r"/review/(\d+)/", response["Location"])
    assert match, response["Location"]
    return ReviewTask.objects.get(pk=match[1])


def at(minutes):
    return time_machine.travel(NOW + timedelta(minutes=minutes), tick=False)


def heartbeat(client, task, headers=None, token=None):
    return client.post(
        f"/review/{task.pk}/heartbeat",
        {"claim_token": token or task.claim_token},
        headers=headers or {},
    )


def skip(client, task, reason, headers=None):
    return client.post(
        f"/review/{task.pk}/skip",
        {"claim_token": task.claim_token, "reason": reason},
        headers=headers or {},
    )


# --- the page ---------------------------------------------------------------------------------


def test_the_page_polls_the_heartbeat_and_offers_extend_and_skip_without_js(alice, held):
    with at(1):
        html = alice.get(f"/review/{held.pk}/").content.decode()

    lease = re.search(r'<form class="lease".*?</form>', html, re.S)
    assert lease, "the lease line is missing"
    assert f'action="/review/{held.pk}/heartbeat"' in lease[0]
    assert 'hx-trigger="every 60s, submit"' in lease[0]
    assert f'value="{held.claim_token}"' in lease[0]
    assert "Claim held until" in lease[0] and ">09:10 UTC</time>" in lease[0]
    assert '<button type="submit" class="link">Extend</button>' in lease[0]
    skip_form = re.search(r'<details class="card skip".*?</details>', html, re.S)
    assert skip_form, "the skip prompt is missing"
    assert f'action="/review/{held.pk}/skip"' in skip_form[0]
    assert re.search(r'<input type="text" name="reason"[^>]* required', skip_form[0])


def test_the_page_carries_an_accessible_shortcuts_dialog(alice, held):
    with at(1):
        html = alice.get(f"/review/{held.pk}/").content.decode()

    dialog = re.search(r"<dialog id=\"shortcuts\"(.*?)>(.*?)</dialog>", html, re.S)
    assert dialog, "the shortcuts overlay is missing"
    assert 'role="dialog"' in dialog[1] and 'aria-modal="true"' in dialog[1]
    assert 'aria-labelledby="shortcuts-title"' in dialog[1]
    keys = re.findall(r"<dt><kbd>(.*?)</kbd></dt>", dialog[2])
    assert keys == ["a", "c", "r", "1-9", "/", "s", "Enter", "u", "?"]


def test_a_colleague_gets_no_heartbeat_or_skip(second_reviewer, held):
    with at(1):
        html = browser(second_reviewer).get(f"/review/{held.pk}/").content.decode()

    assert "/heartbeat" not in html
    assert "/skip" not in html


# --- heartbeat --------------------------------------------------------------------------------


def test_the_heartbeat_extends_the_lease_and_returns_the_new_lease_line_to_htmx(alice, held):
    with at(7):
        response = heartbeat(alice, held, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form class="lease"')
    assert ">09:17 UTC</time>" in html
    assert 'hx-trigger="every 60s, submit"' in html
    assert ReviewTask.objects.get(pk=held.pk).lease_expires_at == NOW + timedelta(minutes=7) + LEASE


def test_the_extend_button_works_without_javascript(alice, held):
    with at(7):
        response = heartbeat(alice, held)
        page = alice.get(response["Location"]).content.decode()

    assert response.status_code == 302
    assert response["Location"] == f"/review/{held.pk}/"
    assert "Claim extended until 09:17 UTC." in page
    assert ReviewTask.objects.get(pk=held.pk).lease_expires_at == NOW + timedelta(minutes=7) + LEASE


def test_a_heartbeat_after_the_lease_ran_out_is_a_409_alert_that_stops_polling(alice, held):
    with at(11):
        response = heartbeat(alice, held, headers=HTMX)

    assert response.status_code == 409
    html = response.content.decode()
    assert 'role="alert"' in html and "expired" in html
    assert "hx-trigger" not in html
    assert ReviewTask.objects.get(pk=held.pk).lease_expires_at == NOW + LEASE


def test_a_heartbeat_with_a_stale_token_is_a_409_page_without_javascript(alice, held):
    with at(1):
        response = heartbeat(alice, held, token="00000000-0000-0000-0000-000000000000")

    assert response.status_code == 409
    assert "nothing was saved" in response.content.decode()


def test_a_heartbeat_on_another_teams_task_is_a_404(outsider, held):
    with at(1):
        assert heartbeat(browser(outsider), held).status_code == 404


def test_the_heartbeat_needs_a_post(alice, held):
    assert alice.get(f"/review/{held.pk}/heartbeat").status_code == 405


# --- skip -------------------------------------------------------------------------------------


def test_skip_without_javascript_moves_on_to_another_task(alice, held, reviewer):
    with at(1):
        response = skip(alice, held, "Outside my expertise")

    assert response.status_code == 302
    following = int(re.fullmatch(r"/review/(\d+)/", response["Location"])[1])
    assert following != held.pk
    assert ReviewTask.objects.get(pk=held.pk).status == TaskStatus.OPEN
    assert ReviewTask.objects.get(pk=following).claimed_by == reviewer
    assert TaskSkip.objects.get().reason == "Outside my expertise"


def test_skip_returns_the_next_tasks_panel_to_htmx(alice, held):
    with at(1):
        response = skip(alice, held, "Needs more context", headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Task skipped. Here is the next one." in html
    following = int(re.fullmatch(r"/review/(\d+)/", response["HX-Push-Url"])[1])
    assert following != held.pk
    assert f"task {following}</h1>" in html


def test_skip_without_a_reason_is_refused_with_the_prompt_open(alice, held):
    with at(1):
        response = skip(alice, held, "  ", headers=HTMX)

    assert response.status_code == 422
    html = response.content.decode()
    assert '<details class="card skip" open>' in html
    assert 'data-testid="skip-error">Say why you skip this task.<' in html
    assert re.search(r'name="reason"[^>]*aria-invalid="true"', html)
    assert ReviewTask.objects.get(pk=held.pk).status == TaskStatus.CLAIMED
    assert not TaskSkip.objects.exists()


def test_skip_after_the_claim_was_lost_is_a_409(alice, held):
    with at(11):
        response = skip(alice, held, "Needs more context", headers=HTMX)

    assert response.status_code == 409
    assert "nothing was saved" in response.content.decode()
    assert not TaskSkip.objects.exists()
