"""The outbox relayed by a real Celery worker: a decision committed in one process is published
by the worker's relay (sent on commit) and the item's completion, written by the worker when it
resumes the item, follows it onto the machine's RabbitMQ."""

import json

import pytest

from reviewapp.celery import app as celery_app
from reviewapp.core.outbox.models import OutboxEvent
from reviewapp.review.reviews.claims import review_task_claim
from reviewapp.review.reviews.decisions import review_task_decide
from tests.integration.conftest import _stop, wait_until, worker_start
from tests.support.bus import AMQP_URL, Rabbit, unique

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bus_worker(settings, media_root, tmp_path):
    """A worker whose settings publish to an exchange of this test's own; the test process
    publishes there too. Returns ``(worker, rabbit, subscriber queue)``."""
    exchange = unique("pytest-events")
    rabbit = Rabbit()
    subscriber = rabbit.bind_queue(exchange, "com.reviewapp.#")
    celery_app.control.purge()
    worker = worker_start(
        broker_url=settings.CELERY_BROKER_URL,
        media_root=media_root,
        log_path=tmp_path / "worker.log",
        extra_env={"REVIEWAPP_EVENT_BUS_URL": AMQP_URL, "REVIEWAPP_EVENT_BUS_TOPIC": exchange},
    )
    try:
        yield worker, rabbit, subscriber
    finally:
        _stop(worker.process)
        rabbit.close()


def test_the_worker_publishes_a_decision_and_the_completion_it_leads_to(
    demo, routed_items, reviewer, bus_worker, settings
):
    worker, rabbit, subscriber = bus_worker
    routed_items(count=20)
    settings.REVIEWAPP_EVENT_BUS_URL = AMQP_URL
    settings.REVIEWAPP_EVENT_BUS_TOPIC = rabbit.exchanges[0]
    task = review_task_claim(queue=demo.queue, reviewer=reviewer)
    review_task_decide(task=task, reviewer=reviewer, claim_token=task.claim_token, outcome="accept")

    events: list[dict] = []

    def of_the_item() -> list[str]:
        # The worker also ran the pipeline of the routed items (their ingest sent it), so other
        # items' completions arrive too.
        return [
            event["type"]
            for event in events
            if event["data"].get("item", int(event["data"]["object"]["id"])) == task.item_id
        ]

    def both_arrived() -> bool:
        while (message := rabbit.get(subscriber)) is not None:
            events.append(json.loads(message.body))
        return len(of_the_item()) >= 2

    wait_until(
        both_arrived, timeout=60, what=lambda: f"events so far: {events}\n{worker.log_tail()}"
    )
    assert of_the_item() == ["com.reviewapp.task.decided", "com.reviewapp.item.completed"]
    wait_until(
        lambda: not OutboxEvent.objects.filter(sent_at__isnull=True).exists(),
        timeout=30,
        what=lambda: "events left unsent",
    )
