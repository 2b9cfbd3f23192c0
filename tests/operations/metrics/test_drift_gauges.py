"""The drift checks' scores and alarms reach /metrics through beat's recount."""

import pytest
from django.utils import timezone

from reviewapp.learn.monitoring.models import DriftCheck
from reviewapp.operations.metrics.recount import metrics_recount

pytestmark = pytest.mark.django_db


def check(demo, *, drifted: bool, version: int | None = None) -> DriftCheck:
    number = version or demo.workflow.current_version.number
    return DriftCheck.objects.create(
        workflow=demo.workflow,
        version=number,
        checked_at=timezone.now(),
        reference_items=200,
        current_items=200,
        features=[
            {
                "name": "customer_tier",
                "kind": "category",
                "statistic": "PSI",
                "value": 0.9,
                "alarm": 0.2,
                "drifted": drifted,
            },
            {
                "name": "subject",
                "kind": "new words",
                "statistic": "share",
                "value": 0.1,
                "alarm": 0.3,
                "drifted": False,
            },
        ],
        drifted=drifted,
    )


def test_the_last_check_of_the_current_version_is_exposed(demo, scrape):
    check(demo, drifted=False)
    check(demo, drifted=True)  # the newer one counts
    check(demo, drifted=False, version=99)  # not the current version: left out
    metrics_recount()
    exposed = scrape()
    version = str(demo.workflow.current_version.number)
    labels = {"workflow": demo.workflow.slug, "version": version}
    tier = labels | {"feature": "customer_tier (category)"}
    words = labels | {"feature": "subject (new words)"}
    assert exposed.value("reviewapp_drift_score", **tier) == pytest.approx(0.9)
    assert exposed.value("reviewapp_drift_alarm", **tier) == 1
    assert exposed.value("reviewapp_drift_alarm", **words) == 0
    assert exposed.value("reviewapp_drift_score", workflow=demo.workflow.slug) == pytest.approx(1.0)
