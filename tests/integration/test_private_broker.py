"""The fault tests' own broker: a private ``redis-server`` that the test stops and restarts on
its port, and this process's Celery app sent there for one test and back afterwards. The
machine's Redis is never touched."""

import json
import os
import socket
import threading

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from reviewapp.celery import app as celery_app
from tests.support.redis_server import RedisServer, celery_app_on_broker

RUN_ITEMS = "workflows.run_items"
TICKET = {"subject": "Refund", "body": "I was charged twice this month", "customer_tier": "pro"}


def queued_tasks(server: RedisServer) -> list[str]:
    """The task names of the messages waiting in the default queue of ``server``'s db 0."""
    client = server.client()
    try:
        return [json.loads(raw)["headers"]["task"] for raw in client.lrange("celery", 0, -1)]
    finally:
        client.close()


def ingest(demo, *, key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {demo.api_token}")
    response = client.post(
        f"/api/v1/workflows/{demo.workflow.slug}/items",
        {"items": [{"input": TICKET}]},
        format="json",
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 201, response.content


def machine_redis_run_id() -> str:
    """The run id of the Redis this suite is configured with: it changes on every restart."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL, socket_timeout=5.0)
    try:
        return client.info("server")["run_id"]
    finally:
        client.close()


def test_a_private_redis_restarts_on_its_own_port_and_keeps_nothing(private_redis):
    machine_before = machine_redis_run_id()
    port, pid = private_redis.port, private_redis.pid
    client = private_redis.client()
    client.rpush("celery", "a queued message")

    private_redis.restart()

    assert (private_redis.port, private_redis.answers()) == (port, True)
    assert private_redis.pid != pid
    assert client.llen("celery") == 0, "nothing on disk: a restart loses every message"
    private_redis.stop()
    assert not private_redis.answers()
    private_redis.start()
    assert client.ping()
    client.close()
    assert machine_redis_run_id() == machine_before, "the machine's Redis was restarted"


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_restart_keeps_the_port_closed_for_its_downtime(private_redis, wait_until):
    restart = threading.Thread(target=private_redis.restart, kwargs={"downtime": 1.0})
    restart.start()
    try:
        wait_until(
            lambda: not port_open(private_redis.port), timeout=5.0, what=lambda: "still open"
        )
        wait_until(private_redis.answers, timeout=10.0, what=lambda: "it never came back")
    finally:
        restart.join(timeout=20.0)
    assert not restart.is_alive()
    assert port_open(private_redis.port)


def test_a_port_taken_by_another_server_is_refused_not_mistaken_for_ours(private_redis, tmp_path):
    with pytest.raises(RuntimeError, match="never answered"):
        RedisServer(port=private_redis.port, directory=tmp_path / "second")
    assert private_redis.answers()


def test_a_private_redis_is_killed_when_its_test_fails(tmp_path):
    with (
        pytest.raises(RuntimeError, match="the test failed"),
        RedisServer(directory=tmp_path / "redis") as server,
    ):
        process = server.process
        raise RuntimeError("the test failed")

    assert process is not None and process.poll() is not None
    assert not server.answers()


def test_the_app_enqueues_after_commit_on_the_private_broker_only_within_the_block(
    demo, private_redis, broker, django_capture_on_commit_callbacks
):
    default_url = celery_app.conf.broker_url
    environ = os.environ.get("CELERY_BROKER_URL")
    assert default_url == django_settings.CELERY_BROKER_URL != private_redis.url()
    # Before: the app's pools hold connections to its own broker.
    with django_capture_on_commit_callbacks(execute=True):
        ingest(demo, key="before-the-block")
    assert [name for name, _ in broker()] == [RUN_ITEMS]

    with celery_app_on_broker(private_redis.url()):
        assert private_redis.url() == django_settings.CELERY_BROKER_URL
        with django_capture_on_commit_callbacks(execute=True):
            ingest(demo, key="within-the-block")

    assert queued_tasks(private_redis) == [RUN_ITEMS]
    assert broker() == []
    assert celery_app.conf.broker_url == django_settings.CELERY_BROKER_URL == default_url
    assert os.environ.get("CELERY_BROKER_URL") == environ
    with django_capture_on_commit_callbacks(execute=True):
        ingest(demo, key="after-the-block")
    assert [name for name, _ in broker()] == [RUN_ITEMS]
    assert queued_tasks(private_redis) == [RUN_ITEMS]


def test_pings_and_inspects_go_to_the_private_broker_only_within_the_block(
    private_redis, wait_until
):
    """Control commands (what a test's ``ping`` and ``inspect`` send) are broadcasts: with Redis
    they are published on a channel, which a subscriber on each broker sees."""
    private = private_redis.client().pubsub(ignore_subscribe_messages=True)
    machine_client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    machine = machine_client.pubsub(ignore_subscribe_messages=True)
    # kombu prefixes a broadcast's channel with its db: other runs use other dbs of this Redis.
    machine_db = machine_client.connection_pool.connection_kwargs.get("db", 0)
    heard: dict[str, int] = {"private": 0, "machine": 0}

    def hears(where: str, count: int) -> bool:
        for name, pubsub in (("private", private), ("machine", machine)):
            while pubsub.get_message(timeout=0.05):
                heard[name] += 1
        return heard[where] >= count

    try:
        private.psubscribe("/0.celery.pidbox*")
        machine.psubscribe(f"/{machine_db}.celery.pidbox*")
        celery_app.control.broadcast("ping", reply=False)
        wait_until(lambda: hears("machine", 1), timeout=5.0, what=lambda: f"{heard}")

        with celery_app_on_broker(private_redis.url()):
            celery_app.control.broadcast("ping", reply=False)
            wait_until(lambda: hears("private", 1), timeout=5.0, what=lambda: f"{heard}")
        assert heard["machine"] == 1

        celery_app.control.broadcast("ping", reply=False)
        wait_until(lambda: hears("machine", 2), timeout=5.0, what=lambda: f"{heard}")
        assert heard["private"] == 1
    finally:
        private.close()
        machine.close()
        machine_client.close()
