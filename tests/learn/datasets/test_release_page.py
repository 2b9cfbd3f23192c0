"""The release page: manifest, data card, checksums, lineage and the diff, for those who may see
the release only."""

import pytest
from django.test import Client

from reviewapp.learn.datasets.services import (
    dataset_export_approve,
    dataset_export_build,
    dataset_export_request,
)
from reviewapp.review.corrections.services import reviewer_pseudonym


@pytest.fixture
def two_releases(demo, requester, approver, corrected):
    """v1 with the first two corrections (by date), v2 with all four, the second in two formats."""
    releases = []
    for filters, formats in (
        ({"created_before": corrected[2].created_at.isoformat()}, ["jsonl"]),
        ({}, ["jsonl", "csv"]),
    ):
        export = dataset_export_request(
            workflow=demo.workflow,
            requested_by=requester,
            export_formats=formats,
            filters=filters,
            note="Retrain the ticket classifier on December's corrections.",
        )
        dataset_export_approve(export=export, approver=approver)
        releases.append(dataset_export_build(export_id=export.pk))
    return releases


def page_of(user, export):
    client = Client()
    client.force_login(user)
    return client.get(f"/datasets/releases/{export.pk}/")


def test_the_requester_sees_manifest_checksums_lineage_and_diff(requester, reviewer, two_releases):
    _, second = two_releases

    response = page_of(requester, second)

    assert response.status_code == 200
    html = response.content.decode()
    for release_file in second.files.all():
        assert release_file.sha256 in html
        assert release_file.download_name in html
    assert "Retrain the ticket classifier" in html
    assert "ines" in html  # who approved
    assert reviewer_pseudonym(reviewer) in html
    assert reviewer.get_username() not in html.split("</header>", 1)[1]
    assert 'data-testid="diff-added">2<' in html
    assert 'data-testid="diff-removed">0<' in html
    assert 'data-testid="rows">4<' in html
    assert "Human-verified" in html
    for python_repr in ("{'", "None", "[]", "True", "False"):
        assert python_repr not in html.split("</header>", 1)[1], python_repr


def test_the_approver_may_see_it_too(approver, two_releases):
    assert page_of(approver, two_releases[0]).status_code == 200


def test_an_outsider_gets_a_404(outsider, two_releases):
    assert page_of(outsider, two_releases[1]).status_code == 404


def test_an_export_not_built_yet_has_no_release_page(demo, requester, corrected):
    export = dataset_export_request(workflow=demo.workflow, requested_by=requester)

    assert page_of(requester, export).status_code == 404


def test_the_datasets_page_links_each_built_release(requester, two_releases):
    client = Client()
    client.force_login(requester)

    html = client.get("/datasets/").content.decode()

    for export in two_releases:
        assert f'href="/datasets/releases/{export.pk}/"' in html
