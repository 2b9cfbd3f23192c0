"""Passwords are stored with Argon2id at OWASP's minimum; older hashes upgrade at sign-in."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.test import Client

import reviewapp.settings as deployed

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough passphrase 42"


@pytest.fixture
def deployed_hashers(settings):
    """The deployment's hashers, not the suite's fast one."""
    settings.PASSWORD_HASHERS = deployed.PASSWORD_HASHERS


def test_new_passwords_are_argon2id_with_owasp_parameters(deployed_hashers):
    encoded = make_password(PASSWORD)
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password(PASSWORD, encoded)
    assert not check_password(PASSWORD + "!", encoded)


def test_an_older_pbkdf2_hash_signs_in_and_is_rehashed(deployed_hashers):
    user = get_user_model().objects.create(
        username="olga", password=make_password(PASSWORD, hasher="pbkdf2_sha256")
    )
    assert user.password.startswith("pbkdf2_sha256$")

    answer = Client().post("/accounts/login/", {"username": "olga", "password": PASSWORD})

    assert answer.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert check_password(PASSWORD, user.password)


def test_a_wrong_password_leaves_the_stored_hash_alone(deployed_hashers):
    stored = make_password(PASSWORD, hasher="pbkdf2_sha256")
    get_user_model().objects.create(username="olga", password=stored)

    answer = Client().post("/accounts/login/", {"username": "olga", "password": "not it"})

    assert answer.status_code == 200
    assert get_user_model().objects.get(username="olga").password == stored
