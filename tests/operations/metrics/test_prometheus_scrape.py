"""A real Prometheus scrapes the app with the token and answers queries on what it read."""

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from reviewapp.operations.demo import demo_install, demo_items_submit
from tests.conftest import PASSWORD
from tests.operations.metrics.conftest import TOKEN
from tests.support.prometheus_server import prometheus_server

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yml"


def test_the_shipped_alert_rules_pass_promtool():
    result = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.django_db(transaction=True)
def test_prometheus_scrapes_the_app_and_answers_for_its_series(live_server):
    demo = demo_install(password=PASSWORD)
    demo_items_submit(demo, count=7, seed=2)
    target = urlsplit(live_server.url).netloc

    with prometheus_server(target=target, token=TOKEN, rules=RULES) as prometheus:
        up = prometheus.wait_for('up{job="reviewapp"} == 1')
        received = prometheus.wait_for('reviewapp_items_received_total{workflow="ticket-triage"}')
        rules = prometheus.api("/api/v1/rules")

    assert up, f"the target never came up: {prometheus.log}"
    assert [float(r["value"][1]) for r in received] == [7.0]
    assert received[0]["metric"]["version"] == str(demo.workflow.current_version.number)
    groups = {group["name"]: group for group in rules["data"]["groups"]}
    assert {"reviewapp", "reviewapp-recording"} <= set(groups)
    assert all(rule["health"] != "err" for g in groups.values() for rule in g["rules"])


@pytest.mark.django_db(transaction=True)
def test_prometheus_without_the_token_is_refused(live_server):
    target = urlsplit(live_server.url).netloc

    with prometheus_server(target=target, token="a-wrong-token-0123456789", rules=RULES) as prom:
        down = prom.wait_for('up{job="reviewapp"} == 0')
        targets = prom.api("/api/v1/targets")

    assert down
    assert "403" in targets["data"]["activeTargets"][0]["lastError"]


def test_the_alerts_fire_on_the_series_the_app_exposes():
    """promtool's rule unit tests: each alert against series shaped like the app's."""
    tests = Path(__file__).with_name("alerts_test.yml")

    result = subprocess.run(
        ["promtool", "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
