"""Webhooks: signed, retried with backoff, logged, redeliverable, and refused for SSRF targets."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.utils import timezone

from reviewapp.core.audit.models import AuditEvent
from tests.conftest import run_pipeline
from workflows.act.http import DestinationRefused, parse_networks, resolve_checked
from workflows.act.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_verify,
    webhook_deliver,
    webhook_redeliver,
    webhooks_due,
)
from workflows.demo.definition import TICKET_TRIAGE
from workflows.ingest.services import Submission, items_ingest
from workflows.models import DeliveryStatus, WebhookDelivery
from workflows.services import workflow_publish

SECRET = "whsec-test-secret"


class Receiver:
    """A real HTTP server on loopback that answers with a scripted list of responses."""

    def __init__(self):
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings, monkeypatch):
    settings.REVIEWAPP_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    monkeypatch.setenv("TRIAGE_WEBHOOK_SECRET", SECRET)
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def delivery(demo, integrator, receiver):
    """A completed item of a workflow whose definition names the receiver as its webhook."""
    # Without QA sampling, so the confident test ticket is always auto-accepted.
    routing = {k: v for k, v in TICKET_TRIAGE.definition["routing"].items() if k != "qa_sample"}
    hook = {"url": f"{receiver.url}/hooks/triage", "secret_env": "TRIAGE_WEBHOOK_SECRET"}
    workflow_publish(
        slug=demo.workflow.slug,
        name=demo.workflow.name,
        team=demo.team,
        definition=TICKET_TRIAGE.definition | {"routing": routing, "webhook": hook},
    )
    demo.workflow.refresh_from_db()
    ((item, _),) = items_ingest(
        workflow=demo.workflow,
        submissions=[
            Submission(input={"subject": "Refund", "body": "please refund the last payment"})
        ],
        submitted_by=integrator,
        correlation_id="corr-1",
    )
    run_pipeline([item.pk])
    item.refresh_from_db()
    assert item.status == "completed", "the test ticket must be auto-accepted"
    return WebhookDelivery.objects.get(item=item)


def test_a_completed_item_is_delivered_signed(delivery, receiver):
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.status == DeliveryStatus.DELIVERED
    (request,) = receiver.requests
    assert request["path"] == "/hooks/triage"
    headers = request["headers"]
    assert signature_verify(
        SECRET, headers[TIMESTAMP_HEADER], request["body"], headers[SIGNATURE_HEADER]
    )
    assert not signature_verify(
        "wrong-secret", headers[TIMESTAMP_HEADER], request["body"], headers[SIGNATURE_HEADER]
    )
    assert not signature_verify(
        SECRET, headers[TIMESTAMP_HEADER], request["body"] + b" ", headers[SIGNATURE_HEADER]
    )
    payload = json.loads(request["body"])
    assert payload["event"] == "item.completed"
    assert payload["item"]["id"] == delivery.item_id
    assert payload["item"]["outcome"] == "auto_accepted"
    assert payload["item"]["correlation_id"] == "corr-1"
    assert AuditEvent.objects.filter(
        action="webhook.delivered", object_id=str(delivery.pk)
    ).exists()


def test_an_old_timestamp_does_not_verify(delivery, receiver):
    webhook_deliver(delivery_id=delivery.pk)
    (request,) = receiver.requests
    headers = request["headers"]
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        assert not signature_verify(
            SECRET, headers[TIMESTAMP_HEADER], request["body"], headers[SIGNATURE_HEADER]
        )


def test_a_failed_delivery_is_retried_later_with_backoff_and_logged(delivery, receiver):
    receiver.script = [(500, {}), (503, {})]
    first = webhook_deliver(delivery_id=delivery.pk)
    assert first.status == DeliveryStatus.PENDING
    assert first.next_attempt_at > timezone.now()
    assert "HTTP 500" in first.last_error
    assert webhook_deliver(delivery_id=delivery.pk) is None  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    with time_machine.travel(first.next_attempt_at + timedelta(seconds=1), tick=False):
        assert webhooks_due() == [delivery.pk]
        second = webhook_deliver(delivery_id=delivery.pk)
    assert second.status == DeliveryStatus.PENDING
    assert second.next_attempt_at - first.next_attempt_at > timedelta(seconds=1)

    with time_machine.travel(second.next_attempt_at + timedelta(seconds=1), tick=False):
        third = webhook_deliver(delivery_id=delivery.pk)
    assert third.status == DeliveryStatus.DELIVERED
    log = list(third.attempt_log.values_list("number", "status_code"))
    assert log == [(1, 500), (2, 503), (3, 200)]


def test_it_gives_up_after_the_last_attempt_and_can_be_redelivered(
    delivery, receiver, settings, manager
):
    settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.script = [(500, {})]
    gave_up = webhook_deliver(delivery_id=delivery.pk)
    assert gave_up.status == DeliveryStatus.GAVE_UP
    assert AuditEvent.objects.filter(action="webhook.gave_up").count() == 1

    webhook_redeliver(delivery=gave_up, acting_user=manager)
    settings.REVIEWAPP_WEBHOOK_MAX_ATTEMPTS = 5
    again = webhook_deliver(delivery_id=delivery.pk)
    assert again.status == DeliveryStatus.DELIVERED
    assert AuditEvent.objects.filter(action="webhook.redelivery_requested", actor=manager).exists()


def test_a_missing_secret_is_a_recorded_failure_not_an_unsigned_request(
    delivery, receiver, monkeypatch
):
    monkeypatch.delenv("TRIAGE_WEBHOOK_SECRET")
    result = webhook_deliver(delivery_id=delivery.pk)
    assert "TRIAGE_WEBHOOK_SECRET is not set" in result.last_error
    assert receiver.requests == []


def test_redirects_are_followed_and_checked_again(delivery, receiver):
    receiver.script = [(307, {"Location": "/hooks/moved"}), (200, {})]
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.status == DeliveryStatus.DELIVERED
    assert [r["path"] for r in receiver.requests] == ["/hooks/triage", "/hooks/moved"]


def test_a_redirect_to_a_link_local_address_is_refused(delivery, receiver):
    receiver.script = [(302, {"Location": "http://169.254.169.254/latest/meta-data/"})]
    result = webhook_deliver(delivery_id=delivery.pk)
    assert result.status == DeliveryStatus.PENDING
    assert "DestinationRefused" in result.last_error
    assert "169.254.169.254" in result.last_error
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.5/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        # IPv6 forms that lead to an IPv4 address are judged by that address.
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[::10.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
        "http://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
        "http://[2002:c0a8:10a::1]/hook",  # 6to4 of 192.168.1.10
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
        "http://[2001:0:0a01:0203:8000:63bf:3fff:fdd2]/hook",  # Teredo, server 10.1.2.3
    ],
)
def test_ssrf_destinations_are_refused_before_any_connection(url):
    with pytest.raises(DestinationRefused, match="non-public address"):
        resolve_checked(url, allowed=[])


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/hook",
        "http://[64:ff9b::808:808]/hook",  # NAT64 of 8.8.8.8
        "http://[2002:808:808::1]/hook",  # 6to4 of 8.8.8.8
        "http://[2606:4700:4700::1111]/hook",
    ],
)
def test_globally_routable_destinations_pass_whatever_their_form(url):
    host, port, address = resolve_checked(url, allowed=[])
    assert (port, address) == (80, host.strip("[]"))


def test_an_allowed_network_covers_its_addresses_in_their_ipv6_forms():
    allowed = parse_networks(["10.20.0.0/16"])
    assert resolve_checked("http://[64:ff9b::a14:1]/hook", allowed=allowed)[2] == "64:ff9b::a14:1"
    with pytest.raises(DestinationRefused):
        resolve_checked("http://[64:ff9b::a15:1]/hook", allowed=allowed)


@pytest.mark.parametrize(
    ("url", "message"),
    [("ftp://example.org/x", "not an http"), ("http://user:pw@example.org/", "credentials")],
)
def test_other_schemes_and_credentials_are_refused(url, message):
    with pytest.raises(DestinationRefused, match=message):
        resolve_checked(url, allowed=[])


def test_an_allowed_network_opens_a_private_destination():
    from workflows.act.http import parse_networks

    host, port, address = resolve_checked(
        "http://127.0.0.1:9/x", allowed=parse_networks(["127.0.0.0/8"])
    )
    assert (host, port, address) == ("127.0.0.1", 9, "127.0.0.1")


def test_the_item_page_lists_deliveries_and_sends_again(
    client, delivery, receiver, manager, outsider
):
    receiver.script = [(500, {})]
    webhook_deliver(delivery_id=delivery.pk)
    client.force_login(manager)
    page = client.get(f"/items/{delivery.item_id}/")
    assert page.status_code == 200
    assert b"HTTP 500" in page.content and b"Send again" in page.content

    url = f"/items/{delivery.item_id}/webhooks/{delivery.pk}/redeliver"
    client.force_login(outsider)
    assert client.post(url).status_code == 404
    client.force_login(manager)
    assert client.post(url).status_code == 302
    delivery.refresh_from_db()
    assert delivery.next_attempt_at <= timezone.now()
    assert AuditEvent.objects.filter(action="webhook.redelivery_requested", actor=manager).exists()
