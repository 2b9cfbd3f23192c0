"""Runs the test identity provider: ``python -m tests.support.oidc_provider.server``.

Migrates its SQLite file, registers the application and the people given in
``OIDC_PROVIDER_SEED`` (JSON), then serves on 127.0.0.1:``OIDC_PROVIDER_PORT``."""

import json
import os

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.support.oidc_provider.settings"


def main() -> None:
    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.core.servers.basehttp import run
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    seed = json.loads(os.environ["OIDC_PROVIDER_SEED"])
    Application.objects.create(
        name="reviewapp",
        client_id=seed["client_id"],
        client_secret=seed["client_secret"],
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=seed["redirect_uri"],
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    for person in seed["people"]:
        user = get_user_model().objects.create_user(
            username=person["username"], password=person["password"], email=person["email"]
        )
        user.groups.set([Group.objects.get_or_create(name=name)[0] for name in person["groups"]])
    run("127.0.0.1", int(os.environ["OIDC_PROVIDER_PORT"]), get_wsgi_application(), threading=True)


if __name__ == "__main__":
    main()
