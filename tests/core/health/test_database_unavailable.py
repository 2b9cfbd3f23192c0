"""A request that meets a database restart answers 503, and says "nothing was saved" only when
nothing it wrote was committed.

The views here stand for any view of the site: each writes (or reads), then meets the error a
restarting PostgreSQL gives. They run outside the test's transaction, so a commit is a commit.
"""

import pytest
from django.contrib.auth.models import Group
from django.db import OperationalError, transaction
from django.urls import path

from reviewapp.core.health.middleware import PARTLY_SAVED, UNAVAILABLE

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.core.health.test_database_unavailable"),
]

GONE = "terminating connection due to administrator command"


def commits_then_fails(request):
    with transaction.atomic(durable=True):
        Group.objects.create(name="saved in a transaction")
    raise OperationalError(GONE)


def fails_inside_its_transaction(request):
    with transaction.atomic(durable=True):
        Group.objects.create(name="rolled back")
        raise OperationalError(GONE)


def writes_at_once_then_fails(request):
    Group.objects.create(name="saved in autocommit")
    raise OperationalError(GONE)


def reads_then_fails(request):
    with transaction.atomic(durable=True):
        list(Group.objects.select_for_update())
    raise OperationalError(GONE)


VIEWS = {
    "commits-then-fails": commits_then_fails,
    "fails-inside-its-transaction": fails_inside_its_transaction,
    "writes-at-once-then-fails": writes_at_once_then_fails,
    "reads-then-fails": reads_then_fails,
}
urlpatterns = [path(f"api/{name}", view) for name, view in VIEWS.items()] + [
    path(f"page/{name}", view) for name, view in VIEWS.items()
]


@pytest.mark.parametrize("view", ["fails-inside-its-transaction", "reads-then-fails"])
def test_it_says_nothing_was_saved_when_no_write_committed(client, view):
    response = client.post(f"/api/{view}")

    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.json() == {"detail": UNAVAILABLE}
    assert "nothing was saved" in UNAVAILABLE
    assert not Group.objects.exists()


@pytest.mark.parametrize("view", ["commits-then-fails", "writes-at-once-then-fails"])
def test_it_never_says_nothing_was_saved_after_a_write_committed(client, view):
    response = client.post(f"/api/{view}")

    assert response.status_code == 503
    assert response.json() == {"detail": PARTLY_SAVED}
    assert "nothing was saved" not in PARTLY_SAVED
    assert Group.objects.count() == 1


def test_pages_say_the_same_in_html(client):
    saved = client.post("/page/commits-then-fails")
    unsaved = client.post("/page/fails-inside-its-transaction")

    assert (saved.status_code, unsaved.status_code) == (503, 503)
    assert PARTLY_SAVED in saved.content.decode()
    assert UNAVAILABLE in unsaved.content.decode()
