"""An ML engineer on the demo's history, in a real browser: from the dataset list to the latest
release's page, its retraining run, then a canary of the candidate it trained."""

import pytest
from playwright.sync_api import expect

from reviewapp.operations.demo_history import demo_history_install
from workflows.models import Canary, CanaryStatus

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def media_root(tmp_path):
    """Per test: the retrained model's file is named after its run."""
    return tmp_path / "media"


def test_an_ml_engineer_starts_a_canary_of_the_model_retrained_on_the_latest_release(sign_in, demo):
    history = demo_history_install(demo)
    release, run = history.release, history.training_run
    assert release is not None and run is not None and run.candidate is not None
    candidate = run.candidate

    page = sign_in("mel", start="/datasets/")
    latest = page.locator(f'tr[data-export="{release.pk}"]')
    expect(latest.get_by_test_id("export-release")).to_have_text("Release v1")
    expect(latest.get_by_test_id("export-status")).to_have_text("Ready")
    latest.get_by_role("link", name="Release v1").click()
    page.wait_for_url(f"**/datasets/releases/{release.pk}/")
    for section in ("Files and checksums", "Data card", "Manifest", "Lineage"):
        expect(page.get_by_role("heading", name=section)).to_be_visible()
    expect(page.get_by_test_id("sha256").first).to_have_text(release.files.first().sha256)
    page.get_by_role("link", name="Retrain and canary").click()
    page.wait_for_url(f"**/workflows/{demo.workflow.slug}/canary#retraining")

    trained = page.get_by_test_id(f"training-run-{run.pk}")
    expect(trained).to_contain_text("v1")
    expect(trained).to_contain_text("Succeeded")
    expect(trained).to_contain_text(str(candidate))

    page.get_by_label("Candidate model").select_option(str(candidate.pk))
    page.get_by_label("Share of items (%)").fill("20")
    page.get_by_label("Reviewed items per arm before judging").fill("30")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text(f"{candidate} now serves part of the traffic.")).to_be_visible()
    expect(
        page.get_by_role(
            "heading", name=f"20 % of items go to {candidate}, the rest to {demo.model_version}"
        )
    ).to_be_visible()

    canary = Canary.objects.get(workflow=demo.workflow)
    assert (canary.status, canary.candidate, canary.percent, canary.min_sample) == (
        CanaryStatus.RUNNING,
        candidate,
        20,
        30,
    )
    assert canary.started_by.username == "mel"
