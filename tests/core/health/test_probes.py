"""/healthz, /readyz and ``manage.py health``: what load balancers, Kubernetes and scripts ask."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from reviewapp.core.health.models import ProcessKind
from reviewapp.core.health.services import heartbeat_beat
from tests.support.redis_server import RedisServer, celery_app_on_broker

NOW = timezone.now().replace(microsecond=0)


def both_alive():
    for name, kind in (("celery@host-a", ProcessKind.WORKER), ("beat@host-a", ProcessKind.BEAT)):
        heartbeat_beat(name=name, kind=kind, hostname="host-a", pid=1, started_at=NOW)


def test_healthz_says_alive_without_touching_the_database(client):
    # No database fixture: any query here would fail the test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"alive": True}


def test_readyz_names_what_is_missing_and_turns_ready_when_heartbeats_arrive(client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"] == {
        "ok": False,
        "detail": "No worker has ever reported: pipeline steps, resumes, webhooks and exports "
        "are not running.",
    }
    assert body["checks"]["beat"]["ok"] is False

    with time_machine.travel(NOW, tick=False):
        both_alive()
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["ready"] is True


def test_readyz_turns_false_when_the_worker_heartbeat_is_stale_and_true_again(client, db, settings):
    settings.REVIEWAPP_HEARTBEAT_STALE_SECONDS = 20
    with time_machine.travel(NOW, tick=False):
        both_alive()
    with time_machine.travel(NOW + timedelta(seconds=50), tick=False):
        heartbeat_beat(
            name="beat@host-a", kind=ProcessKind.BEAT, hostname="host-a", pid=1, started_at=NOW
        )
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["worker"]["detail"].startswith(
            "No worker has reported for 50 s"
        )
        both_alive()
        assert client.get("/readyz").status_code == 200


def test_a_deployment_may_stay_ready_without_workers(client, db, settings):
    settings.REVIEWAPP_READY_NEEDS_WORKER = False
    settings.REVIEWAPP_READY_NEEDS_BEAT = False
    response = client.get("/readyz")
    assert response.status_code == 200
    assert set(response.json()["checks"]) == {"database", "broker"}


def test_readyz_says_the_broker_cannot_be_reached(client, db, tmp_path):
    with RedisServer(directory=tmp_path / "redis") as redis, celery_app_on_broker(redis.url()):
        both_alive()
        assert client.get("/readyz").status_code == 200
        redis.stop()
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False,
        "detail": "The broker cannot be reached: no work can be sent.",
    }


def test_probes_answer_over_plain_http_for_any_host(client, db, settings):
    # Production: HTTPS redirects and an allow-list of hosts; a probe has neither.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["reviews.example.com"]
    both_alive()
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/accounts/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_the_health_command_fails_until_ready(db, capsys):
    with pytest.raises(CommandError) as failed:
        call_command("health")
    assert failed.value.returncode == 1
    assert "FAIL worker" in capsys.readouterr().out
    both_alive()
    call_command("health", "--json")
    assert '"ok": true' in capsys.readouterr().out
