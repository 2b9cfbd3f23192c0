"""The Pipeline page and the stall banner: what managers and operators see of the background."""

from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.services import heartbeat_beat, sweep_run_finished, sweep_run_started
from reviewapp.operations.demo import demo_items_submit

NOW = timezone.now().replace(microsecond=0)


def browser(user):
    client = Client()
    client.force_login(user)
    return client


def alive(at, holding=()):
    with time_machine.travel(at, tick=False):
        heartbeat_beat(
            name="celery@host-a",
            kind=ProcessKind.WORKER,
            hostname="host-a",
            pid=11,
            started_at=NOW,
            holding=holding,
        )
        heartbeat_beat(
            name="beat@host-a", kind=ProcessKind.BEAT, hostname="host-a", pid=12, started_at=NOW
        )


def test_managers_see_the_banner_while_no_worker_reports_and_not_once_it_recovers(
    manager, demo, settings
):
    settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS = 20
    page = browser(manager).get("/queues/")
    assert 'hx-get="/operations/stalls"' in page.content.decode()
    with time_machine.travel(NOW, tick=False):
        banner = browser(manager).get("/operations/stalls").content.decode()
    assert "Background work has stalled." in banner
    assert "No worker has ever reported" in banner
    assert "No beat has ever reported" in banner

    alive(NOW)
    with time_machine.travel(NOW + timedelta(seconds=5), tick=False):
        response = browser(manager).get("/operations/stalls")
    assert response.status_code == 200
    assert "stalled" not in response.content.decode()

    with time_machine.travel(NOW + timedelta(minutes=2), tick=False):
        banner = browser(manager).get("/operations/stalls").content.decode()
    assert "No worker has reported for 2 min" in banner


def test_the_banner_names_an_item_that_waited_past_the_limit(manager, demo, settings):
    settings.REVIEWAPP_STALL_AFTER_SECONDS = 300
    with time_machine.travel(NOW, tick=False):
        demo_items_submit(demo, count=1, seed=9)
    alive(NOW + timedelta(minutes=6))
    with time_machine.travel(NOW + timedelta(minutes=6), tick=False):
        banner = browser(manager).get("/operations/stalls").content.decode()
    assert "has been in the pipeline for 6 min" in banner
    assert "(received): work is not moving." in banner


def test_reviewers_are_told_to_stop_asking_for_the_banner(reviewer, demo):
    response = browser(reviewer).get("/operations/stalls")
    assert response.status_code == 286
    assert response.content == b""


def test_operators_see_processes_sweeps_and_items_waiting(manager, demo, settings):
    settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS = 20
    with time_machine.travel(NOW - timedelta(minutes=3), tick=False):
        demo_items_submit(demo, count=4, seed=9)
    alive(NOW, holding=[1, 2])
    with time_machine.travel(NOW, tick=False):
        sweep_run_started(name="sla.sweep")
        sweep_run_finished(name="sla.sweep", succeeded=True, summary="at risk 1, breached 0")
    with time_machine.travel(NOW + timedelta(seconds=4), tick=False):
        page = browser(manager).get("/dead-letters/").content.decode()
    assert "<h1>Pipeline</h1>" in page
    assert "<code>celery@host-a</code>" in page
    assert "4 s ago" in page
    assert "at risk 1, breached 0" in page
    assert page.count("never") >= 1, "sweeps that never ran say so"
    # Items waiting: four received, the oldest three minutes ago.
    waiting = page.split('data-testid="items-waiting"')[1].split("</table>")[0]
    assert '<td>Received</td><td>validate</td><td class="num">4</td><td>3 min 4 s ago</td>' in (
        waiting
    )


def test_reviewers_see_no_process_health_on_the_pipeline_page(reviewer, demo):
    page = browser(reviewer).get("/dead-letters/").content.decode()
    assert 'data-testid="processes"' not in page
    assert 'data-testid="items-waiting"' in page
