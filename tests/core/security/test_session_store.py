"""Sessions are read with plain SQL: a live session signs its person in, an expired or unknown
one is nobody, exactly as Django's database sessions."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from reviewapp.core.accounts.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_a_live_session_is_read_and_an_expired_or_unknown_one_is_nobody(demo, reviewer):
    client = Client()
    client.force_login(reviewer)
    key = client.cookies["sessionid"].value
    assert client.get("/queues/").status_code == 200

    store = SessionStore(key)
    assert store.load()["_auth_user_id"] == str(reviewer.pk)
    assert store.session_key == key

    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    expired = SessionStore(key)
    assert expired.load() == {}
    assert expired.session_key is None
    assert client.get("/queues/").status_code == 302  # to the sign-in page

    unknown = SessionStore("x" * 32)
    assert unknown.load() == {} and unknown.session_key is None
